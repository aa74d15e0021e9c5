package rtmp

import "syscall"

// errTooManyOpenFiles is the accept error that deserves a retry, not a stop.
var errTooManyOpenFiles error = syscall.EMFILE
