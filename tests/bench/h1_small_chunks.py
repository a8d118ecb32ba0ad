"""An HTTP/1 upload in tiny chunks, measured from outside.

    python3 tests/bench/h1_small_chunks.py HOST PORT CONNECTIONS CHUNK_BYTES SECONDS GATEWAY_PID [PATH]

CONNECTIONS connections each POST PATH (a legacy page, /s/cnie-renewal/__estate/echo unless
given) with a chunked body of CHUNK_BYTES-byte chunks, as fast as they can, and reconnect
when closed. Prints the body bytes sent, the connections made and the gateway's CPU (utime +
stime of GATEWAY_PID over the run) per KB of body: 1-byte chunks against 1 KiB ones.
"""
import socket, sys, time, os, threading
host, port, conns, piece, secs, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
path = sys.argv[7] if len(sys.argv) > 7 else "/s/cnie-renewal/__estate/echo"
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
stop = time.time() + secs
sent = {"bytes": 0, "conns": 0}
lock = threading.Lock()
chunk = (b"%x\r\n" % piece) + b"x" * piece + b"\r\n"
batch = chunk * max(1, 65536 // len(chunk))
def run():
    while time.time() < stop:
        try:
            s = socket.create_connection((host, port))
            with lock: sent["conns"] += 1
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            while time.time() < stop:
                s.sendall(batch)
                with lock: sent["bytes"] += (len(batch) // len(chunk)) * piece
        except OSError:
            pass
        finally:
            s.close()
c0 = cpu(); t0 = time.time()
ts = [threading.Thread(target=run) for _ in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
el = time.time() - t0; c = cpu() - c0
print(f"piece={piece} secs={el:.1f} body_bytes={sent['bytes']} conns={sent['conns']} gateway_cpu={c:.2f}s ({c/el:.2f} cores) us_per_kb={c*1e6/max(1,sent['bytes']/1024):.1f}")
