#!/bin/sh
# mmdebstrap --extract-hook for debian-base: $1 is the unpacked root file system. The extract variant runs no
# maintainer scripts, so this does the little of their work that a .NET app needs.
set -eu
root="$1"
# ca-certificates' postinst (update-ca-certificates) would make the bundle OpenSSL and .NET read.
mkdir -p "$root/etc/ssl/certs"
cat "$root"/usr/share/ca-certificates/mozilla/*.crt > "$root/etc/ssl/certs/ca-certificates.crt"
# base-passwd's postinst would make these; some programs look up uid 0 by name.
[ -e "$root/etc/passwd" ] || printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$root/etc/passwd"
[ -e "$root/etc/group" ] || printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
# A writable /tmp (.NET puts its diagnostics and some caches there).
mkdir -p "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
