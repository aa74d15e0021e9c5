//go:build !race

package hub

const raceEnabled = false // see race_on_test.go
