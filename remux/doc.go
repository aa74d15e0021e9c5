// Package remux holds tapedeck's media vocabulary, each format in one home:
//
//   - message.go, pool.go: the media message that flows from ingest to every
//     consumer, in pooled, reference-counted buffers.
//   - frame.go, packet.go, multitrack.go: the FLV / Enhanced RTMP tag
//     header, parsed once at ingest into Message.Frame (codec, packet type,
//     frame type, keyframe, CTS, multitrack, ModEx offset, where the codec
//     payload is), and the walk over a multitrack message's tracks.
//   - h264.go, h265.go, paramsets.go: H.264 / H.265 parameter sets
//     (mediacommon's SPS types) and the avcC / hvcC records built from them.
//   - av1.go, vp9.go, opus.go, aac.go, mp3.go: the configuration records
//     and headers of AV1, VP9, Opus, AAC and MPEG audio.
//   - flvfile.go, mp4file.go, filereader.go: the FLV and MP4 demuxers
//     playback reads recordings with.
//   - amf: AMF0/AMF3, the encoding of RTMP commands and script data.
//   - rtp: RTP depacketizers for camera ingest.
//
// Each parser in this package and in amf has a table test and a fuzzer
// beside it, with seeds under testdata/fuzz. Where a library (mediacommon)
// parses as well, it is wrapped; where ours is kept, its doc comment says
// why.
package remux
