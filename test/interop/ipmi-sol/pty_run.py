"""Runs a command on a pseudo-terminal: this process's stdin goes to the terminal, the terminal's
output to stdout (the client's PID goes to $PTY_PID_FILE when set). Interactive console clients (ipmitool sol activate, ipmiconsole) need a tty;
the test drives them through pipes to this helper. Exits with the command's exit code."""
import os
import pty
import select
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
if os.environ.get('PTY_PID_FILE'):
    with open(os.environ['PTY_PID_FILE'], 'w') as f:
        f.write(str(pid))

stdin_open = True
while True:
    fds = [fd] + ([0] if stdin_open else [])
    try:
        ready, _, _ = select.select(fds, [], [], 0.5)
    except InterruptedError:
        continue
    if fd in ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 4096)
        if not data:
            stdin_open = False
        else:
            os.write(fd, data)

_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
