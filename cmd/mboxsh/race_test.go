//go:build race

package main

// raceEnabled: the tests run under -race, so the binary is built with it.
const raceEnabled = true
