#!/usr/bin/env python3
"""A test camera: GStreamer's RTSP server serving a live test pattern.

usage: camera.py PORT h264|h265|VIDEO [USER PASS]
Serves rtsp://127.0.0.1:PORT/cam (video + AAC audio); with USER PASS, Digest
authentication is required. VIDEO, for encoder settings the presets do not
offer, is a gst-launch fragment from raw video to a payloader named pay0.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
port, codec = sys.argv[1], sys.argv[2]
if codec not in ("h264", "h265"):
    venc = codec
elif codec == "h265":
    venc = "x265enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! rtph265pay name=pay0 pt=96 config-interval=-1"
else:
    venc = "x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! rtph264pay name=pay0 pt=96"
launch = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 ! "
    + venc
    + " audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! rtpmp4gpay name=pay1 pt=97 )"
)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
if len(sys.argv) >= 5:
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    auth.add_digest(sys.argv[3], sys.argv[4], token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_role_from_structure(
        Gst.Structure.new_from_string("user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
    )
    factory.set_permissions(perms)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on " + port)
print("ready", flush=True)
GLib.MainLoop().run()
