package appliance

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashCost is the bcrypt cost of `tapedeck hash-password`: the config
// check's minimum, about 50 ms to check on a Pi 4 per sign-in.
const hashCost = 10

// cmdHashPassword reads a password (its first line) from stdin and prints
// the bcrypt hash to put in http.users[].password_hash. The password is
// read from stdin rather than taken as an argument, which would leave it
// in the shell history and the process list.
func cmdHashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintf(stderr, "tapedeck hash-password: reading stdin: %v\n", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		io.WriteString(stderr, "tapedeck hash-password: no password on stdin (e.g. read -rs PW; printf '%s' \"$PW\" | tapedeck hash-password)\n")
		return 2
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), hashCost)
	if err != nil { // longer than bcrypt's 72 bytes
		fmt.Fprintf(stderr, "tapedeck hash-password: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}
