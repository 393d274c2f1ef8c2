#!/usr/bin/python3
"""A minimal CRI client: containerd's own `runtime.v1` API, driven by JSON.

No crictl and no CRI .proto file are at hand, but containerd embeds the
API it serves: its Go binary carries every compiled .proto as a gzipped
FileDescriptorProto. This program finds the one of package `runtime.v1`,
builds the message classes from it (protobuf's descriptor pool and message
factory) and calls the services through plain gRPC unary calls.

    cri.py --containerd /usr/bin/containerd --address unix:///path/sock

then reads requests from stdin, one JSON object per line:

    {"method": "RunPodSandbox", "request": {"config": {...}}}

and answers each on stdout, one JSON object per line, with the response
message in protobuf's JSON mapping (field names as in the .proto; bytes
fields base64) or the call's gRPC error:

    {"response": {"pod_sandbox_id": "..."}}
    {"error": {"code": "NOT_FOUND", "details": "..."}}

It runs as long as its stdin is open, so a test pays for the interpreter
and the descriptor once, not per call. Every call has a deadline
(`--timeout`, seconds), so a stuck runtime fails a call instead of
hanging the caller.
"""

import argparse
import json
import sys
import zlib

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

PACKAGE = "runtime.v1"
SERVICES = ("RuntimeService", "ImageService")
GZIP_MAGIC = b"\x1f\x8b\x08\x00"
MAX_COMPRESSED = 1 << 20


def embedded_descriptor(binary):
    """The FileDescriptorProto of package PACKAGE inside `binary`."""
    data = open(binary, "rb").read()
    at = data.find(GZIP_MAGIC)
    while at >= 0:
        try:
            # A gzip stream ends by itself: what follows it is left unread.
            # The API's descriptor is some 25 KiB compressed.
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                data[at : at + MAX_COMPRESSED]
            )
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            if fd.package == PACKAGE and fd.service:
                return fd
        except Exception:  # not a descriptor: other gzip data, or none
            pass
        at = data.find(GZIP_MAGIC, at + 1)
    sys.exit(f"cri.py: no {PACKAGE} API descriptor in {binary}")


def message_classes(fd):
    """Message classes by full name, for the API in `fd`."""
    # The API imports gogoproto only for Go code generation options, which
    # stay readable as unknown fields; the pool needs no gogo.proto.
    del fd.dependency[:]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    file = pool.FindFileByName(fd.name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        make = message_factory.GetMessageClass
    else:
        make = message_factory.MessageFactory(pool).GetPrototype
    return file, make


def stubs(channel, file, make):
    """Callables by method name: request message in, response message out."""
    calls = {}
    for name in SERVICES:
        service = file.services_by_name[name]
        for method in service.methods:
            request, response = make(method.input_type), make(method.output_type)
            call = channel.unary_unary(
                f"/{PACKAGE}.{name}/{method.name}",
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
            )
            calls[method.name] = (request, call)
    return calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containerd", default="/usr/bin/containerd")
    parser.add_argument("--address", required=True, help="unix:///path/to/socket")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    file, make = message_classes(embedded_descriptor(args.containerd))
    calls = stubs(grpc.insecure_channel(args.address), file, make)
    for line in sys.stdin:
        if not line.strip():
            continue
        ask = json.loads(line)
        request, call = calls[ask["method"]]
        try:
            message = json_format.ParseDict(ask.get("request", {}), request())
            reply = call(message, timeout=args.timeout)
            answer = {
                "response": json_format.MessageToDict(
                    reply, preserving_proto_field_name=True
                )
            }
        except grpc.RpcError as e:
            answer = {"error": {"code": e.code().name, "details": e.details()}}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
