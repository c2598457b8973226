# Port helpers the benchmark and cluster scripts share (source this file).

# A port the kernel just handed out is free (a fixed one can sit in TIME_WAIT after an
# interrupted run).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_port PORT [TRIES]: until something accepts on 127.0.0.1:PORT (0.1 s per try).
wait_port() { for _ in $(seq 1 "${2:-100}"); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
