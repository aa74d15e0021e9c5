// Command tapedeck is a recording and restreaming RTMP appliance.
package main

import (
	"os"

	"github.com/tapedeck/tapedeck/appliance"
)

func main() {
	os.Exit(appliance.Main(os.Args[1:], os.Stdout, os.Stderr))
}
