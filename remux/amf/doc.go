// Package amf reads and writes Action Message Format: AMF0 values and the
// AMF3 values an AMF0 stream may switch to (marker 0x11). RTMP commands,
// RTMP/FLV script data (onMetaData) and Enhanced RTMP metadata packets all
// use it; this package is their one decoder and encoder.
//
// DecodeAMF0 and AppendAMF0 map whole values to Go values (Object,
// ECMAArray, []any, float64, string, ...). The Append* functions write one
// item at a time without boxing, for writers on hot paths and for bodies
// laid out byte by byte, such as an FLV onMetaData tag patched in place.
package amf
