#!/bin/sh
# mmdebstrap --customize-hook for the debian sample: $1 is the root file system, after the packages are installed.
# Most of it is what Docker Hub's debian image (debuerreotype) does, so that the tutorials' `RUN apt-get ...` behave
# as there.
set -eu
root="$1"
# mmdebstrap copies the build machine's files in: the runtime provides both (and they differ between machines).
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
# dpkg's and debconf's backups of their databases: same content as the originals a step earlier, useless in an image.
rm -f "$root"/var/lib/dpkg/*-old "$root"/var/cache/debconf/*-old
# A package installed by a RUN must not try to start its service (there is no init in a build container).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# apt-get install leaves no .deb files and no package cache behind in the layer that ran it.
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
# The package lists and caches (mmdebstrap's cleanup/apt is skipped: it would run apt with the docker-clean settings
# above, which tell apt-get clean not to remove the caches). A RUN starts with apt-get update.
rm -rf "$root"/var/lib/apt/lists/*
mkdir -p "$root/var/lib/apt/lists/partial"
rm -f "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/*
