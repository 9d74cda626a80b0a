#!/usr/bin/env bash
# Install what the remote tests need to run real servers on 127.0.0.1:
#   git daemon and git http-backend come with git; sshd with openssh-server;
#   gitolite (per-branch rules over SSH) with gitolite3, which the tests set up
#   inside their own temporary folders (no system account is configured);
#   gpg (gnupg) and ssh-keygen for the signed-commit tests.
# The smart HTTP server itself is tests/gitservers.py (Python standard library).
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v git >/dev/null 2>&1 || need+=(git)
[ -x /usr/lib/git-core/git-http-backend ] || [ -x "$(git --exec-path 2>/dev/null)/git-http-backend" ] || need+=(git)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
{ command -v gitolite >/dev/null 2>&1 && [ -x /usr/share/gitolite3/gitolite-shell ]; } || need+=(gitolite3)
command -v gpg >/dev/null 2>&1 || need+=(gnupg)

if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # gitolite3 asks for an admin key; left empty, it sets nothing up system-wide
    echo "gitolite3 gitolite3/adminkey string" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# sshd run as root wants its privilege separation folder
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi
