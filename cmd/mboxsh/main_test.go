package main

import (
	"testing"
	"time"
)

// TestConfirmUnit: the MBOXSH_CONFIRM_UNIT test hook can shorten the unit
// of `commit confirmed N`, never lengthen it.
func TestConfirmUnit(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"":      time.Minute,
		"s":     time.Second,
		"1s":    time.Second,
		"250ms": 250 * time.Millisecond,
		"ms":    time.Millisecond,
		"1m":    time.Minute,
		"2h":    time.Minute,
		"h":     time.Minute,
		"-1s":   time.Minute,
		"0":     time.Minute,
		"soon":  time.Minute,
	} {
		t.Setenv("MBOXSH_CONFIRM_UNIT", v)
		if got := confirmUnit(); got != want {
			t.Errorf("MBOXSH_CONFIRM_UNIT=%q: unit %v, want %v", v, got, want)
		}
	}
}
