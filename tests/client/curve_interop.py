#!/usr/bin/env python3
"""pyzmq's side of the CURVE interop test (tests/client/curve_test.cpp).

  curve_interop.py check             exit 0 if zmq.auth imports, else 3
  curve_interop.py create DIR NAME   zmq.auth.create_certificates(DIR, NAME)
  curve_interop.py load FILE         zmq.auth.load_certificate(FILE); prints
                                     "public=Z85" and "secret=Z85" (or
                                     "secret=" for a public certificate)
"""
import sys


def main(argv):
    try:
        import zmq.auth
    except ImportError as e:
        print(f"no zmq module: {e}", file=sys.stderr)
        return 3
    if argv[1:] == ["check"]:
        return 0
    if len(argv) == 4 and argv[1] == "create":
        public, secret = zmq.auth.create_certificates(argv[2], argv[3])
        print(f"public_file={public}")
        print(f"secret_file={secret}")
        return 0
    if len(argv) == 3 and argv[1] == "load":
        public, secret = zmq.auth.load_certificate(argv[2])
        print(f"public={public.decode('ascii')}")
        print(f"secret={secret.decode('ascii') if secret else ''}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
