# apt_install PKG...: Debian packages for setup.sh (Fashion-MNIST) and browser.sh (Chromium); sourced, not run.
# Returns 0 when installed, 1 (after a note on stderr naming the cause) when not; never stops the caller, since
# both uses are optional. It waits for a dpkg lock held by another apt run (unattended-upgrades on a machine that
# has just booted, or a second test.sh) instead of failing at once, and runs `apt-get update` only when the
# package lists do not know the packages yet.
apt_install() {
  local sudo="" log
  if ! command -v apt-get >/dev/null; then
    echo "note: no apt-get on this machine to install $*" >&2
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    if ! sudo -n true 2>/dev/null; then
      echo "note: installing $* needs root or sudo without a password" >&2
      return 1
    fi
    sudo="sudo -n"
  fi
  log=$(mktemp)
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=${APT_LOCK_WAIT_S:-300})
  if "${apt[@]}" install "$@" >"$log" 2>&1 \
    || { "${apt[@]}" update >>"$log" 2>&1 && "${apt[@]}" install "$@" >>"$log" 2>&1; }; then
    rm -f "$log"
    return 0
  fi
  echo "note: apt-get could not install $*; its last lines:" >&2
  tail -n 5 "$log" | sed 's/^/  /' >&2
  rm -f "$log"
  return 1
}
