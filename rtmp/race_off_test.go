//go:build !race

package rtmp

const raceEnabled = false // see race_on_test.go
