//go:build !race

package recorder

const raceEnabled = false // see race_on_test.go
