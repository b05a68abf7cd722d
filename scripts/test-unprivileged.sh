#!/usr/bin/env bash
# CI's extra check: the tests that meet files and servers as a newcomer's account does, once more as an
# unprivileged user with an installation of its own. CI runs as root, which hides permission faults (a
# read-only ../shared, the embedded server's files, a wheel installed away from the checkout) that an ordinary
# account hits at once. Needs root (it creates the user); tests the committed tree (a clone of this checkout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test-unprivileged.sh: not root, so scripts/test.sh already ran unprivileged; nothing to add" >&2
  exit 0
fi
user=recengine-ci
home=/var/tmp/$user
id -u "$user" >/dev/null 2>&1 || useradd --system --home-dir "$home" --shell /usr/sbin/nologin "$user"
work=$home/ci
rm -rf "$work"
mkdir -p "$work"
git -c safe.directory="$(pwd)" clone -q "$(pwd)" "$work/main"
[ -d ../shared ] && ln -s "$(cd ../shared && pwd)" "$work/shared"  # read-only to the user, as on a newcomer's box
chown -R "$user": "$home"

# A clean environment: no RECENGINE_* settings and nothing of root's home; pip's settings (wheel folders,
# index mirrors) pass through, since the user's own install needs the same packages.
pass=(HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
while IFS='=' read -r name _; do
  case $name in PIP_*) pass+=("$name=${!name}") ;; esac
done < <(env)
echo "== the newcomer's tests again, as the unprivileged user $user in $work/main ==" >&2
runuser -u "$user" -- env -i "${pass[@]}" bash -c 'cd "$1" && shift && source scripts/setup.sh &&
  .venv/bin/pytest -p no:cacheprovider tests/test_cli.py tests/test_import_polyvore.py tests/test_packaging.py \
    tests/test_demo_job.py tests/test_embedded_server.py "$@"' _ "$work/main" "$@"
