#!/usr/bin/env bash
# Install the Debian packages the portal calls, when missing. Needs root (or sudo).
# Listed once here; `make setup` runs this before creating the virtual environment.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [dciodvfy]=dicom3tools
  [chromium]=chromium  # the site tests drive it headless (Playwright, no browser download)
  [bwrap]=bubblewrap   # the sandbox that runs team code (portal reproduce)
  [npm]=npm            # installs axe-core, the site's accessibility test (make setup)
)

missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
# Team environments are built on the system Python, which the sandbox's
# unprivileged user can read (a pyenv or conda Python under /root it cannot).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import venv" 2>/dev/null \
  || missing+=(python3 python3-venv)
# The integration tests start a throw-away PostgreSQL server (the tracking server's
# database); Debian installs its binaries under /usr/lib/postgresql/<major>/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "Missing Debian packages: ${missing[*]}. Install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg process (unattended upgrades, a second shell) may hold the lock:
# wait for it, bounded, rather than fail at once.
LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${LOCK_WAIT[@]}" update -qq
$SUDO apt-get "${LOCK_WAIT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
