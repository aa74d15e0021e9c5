//go:build !race

package remux

const raceEnabled = false // see race_on_test.go
