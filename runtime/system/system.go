// Package system assembles the runtime drivers of one appliance (a network
// namespace) and opens them on first use, so that starting the shell costs
// nothing until a commit or a show command needs the kernel.
package system

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"mboxsh/config"
	"mboxsh/runtime"
	"mboxsh/runtime/frr"
	"mboxsh/runtime/ipsec"
	"mboxsh/runtime/netlink"
	"mboxsh/runtime/nft"
)

// System is the live system of one appliance.
type System struct {
	NetNS  string
	RunDir string // where owned daemons keep their files

	mu    sync.Mutex
	nl    *netlink.Driver
	fw    *nft.Driver
	ike   *ipsec.Driver
	route *frr.Driver
}

// New describes the system in network namespace netns ("" = our own).
func New(netns, runDir string) *System {
	if runDir == "" {
		runDir = "/run/mboxsh"
		if netns != "" {
			runDir = filepath.Join(runDir, netns)
		}
	}
	return &System{NetNS: netns, RunDir: runDir}
}

// Drivers opens every driver, in the order commits apply them: links and
// routes, then firewall, then routing daemons, then IKE.
func (s *System) Drivers(ctx context.Context) ([]runtime.Driver, error) {
	// The run directory is shared by the daemons: FRR's processes run as
	// user frr and must traverse it; each driver keeps its own
	// sub-directory as private as it needs.
	if err := os.MkdirAll(s.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if err := os.Chmod(s.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	nl, err := s.Netlink()
	if err != nil {
		return nil, err
	}
	fw, err := s.Firewall()
	if err != nil {
		return nil, err
	}
	route, err := s.FRR()
	if err != nil {
		return nil, err
	}
	ike, err := s.IPsec()
	if err != nil {
		return nil, err
	}
	return []runtime.Driver{nl, fw, route, ike}, nil
}

// Netlink returns the links-and-routes driver.
func (s *System) Netlink() (*netlink.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nl == nil {
		d, err := netlink.New(s.NetNS)
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		s.nl = d
	}
	return s.nl, nil
}

// Firewall returns the nftables driver.
func (s *System) Firewall() (*nft.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fw == nil {
		d, err := nft.New(s.NetNS)
		if err != nil {
			return nil, fmt.Errorf("nftables: %w", err)
		}
		s.fw = d
	}
	return s.fw, nil
}

// IPsec returns the IKE driver (charon is started only when needed).
func (s *System) IPsec() (*ipsec.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ike == nil {
		d, err := ipsec.New(ipsec.Options{NetNS: s.NetNS, RunDir: filepath.Join(s.RunDir, "ipsec")})
		if err != nil {
			return nil, fmt.Errorf("ipsec: %w", err)
		}
		s.ike = d
	}
	return s.ike, nil
}

// FRR returns the OSPF driver (FRR is started only when needed).
func (s *System) FRR() (*frr.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.route == nil {
		d, err := frr.New(frr.Options{NetNS: s.NetNS, RunDir: filepath.Join(s.RunDir, "frr")})
		if err != nil {
			return nil, fmt.Errorf("frr: %w", err)
		}
		s.route = d
	}
	return s.route, nil
}

// Close closes the opened drivers (owned daemons keep running).
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, d := range []runtime.Driver{s.nl, s.fw, s.ike, s.route} {
		if d != nil && !isNil(d) {
			errs = append(errs, d.Close())
		}
	}
	return errors.Join(errs...)
}

func isNil(d runtime.Driver) bool {
	switch x := d.(type) {
	case *netlink.Driver:
		return x == nil
	case *nft.Driver:
		return x == nil
	case *ipsec.Driver:
		return x == nil
	case *frr.Driver:
		return x == nil
	}
	return false
}

// Check adds what only the live system can tell to the configuration's
// validation: whether the installed strongSwan can do the IPsec
// proposals, and firewall settings that would lock operators out.
func (s *System) Check(ctx context.Context, cfg *config.Config) []config.Diagnostic {
	var out []config.Diagnostic
	if ike, err := s.IPsec(); err == nil {
		for _, is := range ike.Check(ctx, cfg) {
			sev := config.SevError
			if is.Warning {
				sev = config.SevWarning
			}
			out = append(out, config.Diagnostic{Severity: sev, Path: is.Stmt, Msg: is.Msg})
		}
	}
	for _, w := range nft.Warnings(cfg) {
		out = append(out, config.Diagnostic{Severity: config.SevWarning, Path: "firewall-disable input", Msg: w})
	}
	return out
}
