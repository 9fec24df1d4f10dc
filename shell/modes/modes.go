// Package modes defines where a shell session stands — user exec,
// privileged exec, or one of the configuration modes — and the IOS-style
// prompt of each.
package modes

import "mboxsh/config"

// Level is the exec level of a session.
type Level int

const (
	User       Level = iota // HOST>
	Privileged              // HOST#
	Configure               // HOST(config…)#
)

// suffix is the prompt part of each configuration mode.
var suffix = map[config.Mode]string{
	config.ModeConfig:    "(config)",
	config.ModeIKEPolicy: "(config-ike-policy)",
	config.ModeESPPolicy: "(config-esp-policy)",
	config.ModePeer:      "(config-ipsec-peer)",
	config.ModeOSPF:      "(config-router)",
}

// Prompt builds the prompt: "hq>", "hq#", "hq(config)#",
// "hq(config-if-tun0)#". block is the interface name in interface mode.
// dirty adds a '*' before the final '#' when the candidate has
// uncommitted changes.
func Prompt(host string, level Level, mode config.Mode, block string, dirty bool) string {
	if host == "" {
		host = "mbox"
	}
	switch level {
	case User:
		return host + ">"
	case Privileged:
		return host + "#"
	}
	s := suffix[mode]
	if mode == config.ModeInterface {
		s = "(config-if-" + block + ")"
	}
	if dirty {
		return host + s + "*#"
	}
	return host + s + "#"
}
