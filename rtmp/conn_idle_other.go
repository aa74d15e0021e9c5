//go:build !(linux || darwin || freebsd)

package rtmp

// canWaitReadable is false: the reader waits inside ReadMessage.
const canWaitReadable = false

func readable(uintptr) bool { return true }
