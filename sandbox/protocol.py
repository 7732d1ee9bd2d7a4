"""The frames the pool and its sandbox children exchange: a header (payload length, call id;
two big-endian 32-bit numbers) then a JSON payload. With the length known up front, the warm
child moves requests and replies between pipes and fixed buffers without parsing them."""

import struct

HEADER = struct.Struct("!II")
MAX_REQUEST = 16 << 20
MAX_RESULT = 8 << 20
HELLO_ID = 0  # the frame a child sends once locked down; calls are numbered from 1
