package remux

import "fmt"

// AACConfig is what tapedeck reads from an AudioSpecificConfig (ISO/IEC
// 14496-3 §1.6.2.1): the sequence header of legacy AAC and of the Enhanced
// RTMP mp4a FourCC.
//
// Our own parser rather than mediacommon's mpeg4audio.AudioSpecificConfig,
// which (v2.9.3) refuses every object type but LC, SBR and PS, while
// publishers send AAC Main (1) too (enhanced-rtmp.md §2 lists it); only the
// fields before the GASpecificConfig's frameLengthFlag are read.
type AACConfig struct {
	// ObjectType is the audioObjectType as signalled: 5 (SBR) or 29 (PS)
	// for explicitly signalled HE-AAC, whose CoreObjectType follows.
	ObjectType     uint8
	CoreObjectType uint8  // the underlying object type; ObjectType when not HE-AAC
	SampleRate     uint32 // samplingFrequency of the core coder
	// ExtensionSampleRate is the SBR output rate of explicit HE-AAC, else 0.
	ExtensionSampleRate uint32
	// Channels is channelConfiguration; ChannelCount says how many
	// channels it stands for.
	Channels    uint8
	FrameLength int // samples per frame: 1024, or 960 (frameLengthFlag)
}

// aacRates are the sampling frequencies of samplingFrequencyIndex 0..12.
var aacRates = [...]uint32{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// ParseAACConfig parses an AudioSpecificConfig.
func ParseAACConfig(asc []byte) (AACConfig, error) {
	br := NewBitReader(asc)
	objectType := func() uint8 {
		if t := br.U(5); t != 31 {
			return uint8(t)
		}
		return uint8(32 + br.U(6)) // audioObjectTypeExt
	}
	rate := func() uint32 {
		if i := br.U(4); i == 15 {
			return br.U(24)
		} else if int(i) < len(aacRates) {
			return aacRates[i]
		}
		return 0 // reserved index
	}
	var c AACConfig
	c.ObjectType = objectType()
	c.SampleRate = rate()
	c.Channels = uint8(br.U(4))
	c.CoreObjectType = c.ObjectType
	if c.ObjectType == 5 || c.ObjectType == 29 { // explicit SBR / PS
		c.ExtensionSampleRate = rate()
		c.CoreObjectType = objectType()
	}
	c.FrameLength = 1024
	if br.U(1) == 1 { // frameLengthFlag of the GASpecificConfig
		c.FrameLength = 960
	}
	switch {
	case !br.Ok():
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig % x cut short", asc)
	case c.SampleRate == 0:
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig % x has a reserved sampling frequency", asc)
	case c.ObjectType == 0 || c.CoreObjectType == 0:
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig % x has object type 0", asc)
	}
	return c, nil
}

// aacChannels is the channel count of each channelConfiguration (ISO/IEC
// 14496-3 Table 1.19); 0: a program config element defines them, or reserved.
var aacChannels = [16]uint8{0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0}

// ChannelCount is the number of channels Channels stands for; 0 when a
// program config element defines them or the value is reserved.
func (c AACConfig) ChannelCount() int { return int(aacChannels[c.Channels&0x0F]) }
