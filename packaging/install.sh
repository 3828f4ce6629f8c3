#!/usr/bin/env bash
# Installs minkms as a systemd service on this host:
#   sudo ./packaging/install.sh [path/to/minkms]
# Creates the minkms user, /var/lib/minkms, /etc/minkms/config.yaml (when missing), the
# environment file /etc/default/minkms with a fresh HSM key (when missing), and the unit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../target/release/minkms}"
[ -x "$bin" ] || { echo "no minkms binary at $bin: build it with 'cargo build --release -p minkms'" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }

install -m 0755 "$bin" /usr/local/bin/minkms
id minkms >/dev/null 2>&1 || useradd --system --home-dir /var/lib/minkms --shell /usr/sbin/nologin minkms
install -d -o minkms -g minkms -m 0750 /var/lib/minkms
install -d -m 0755 /etc/minkms
[ -e /etc/minkms/config.yaml ] || printf 'version: v1\n' > /etc/minkms/config.yaml
if [ ! -e /etc/default/minkms ]; then
  key="$(/usr/local/bin/minkms --soft-hsm)"
  sed -e "s|^MINIO_KMS_HSM_KEY=.*|MINIO_KMS_HSM_KEY=$key|" -e "s|HOSTNAME|$(hostname -f 2>/dev/null || hostname)|" \
    "$here/systemd/minkms.env" > /etc/default/minkms
  chown root:minkms /etc/default/minkms
  chmod 0640 /etc/default/minkms
  echo "Generated an HSM key in /etc/default/minkms: back it up now; without it the data is lost."
fi
install -m 0644 "$here/systemd/minkms.service" /etc/systemd/system/minkms.service
echo "Installed /usr/local/bin/minkms, /etc/minkms/config.yaml, /etc/default/minkms and /etc/systemd/system/minkms.service."
# Without systemd as PID 1 (a container, WSL, a chroot) there is nothing to reload: say how
# to start the node instead of failing after everything was installed.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  echo "Start with: systemctl enable --now minkms; then: journalctl -u minkms -n 20"
else
  echo "systemd is not running here: start the node yourself, as the unit would:"
  echo "  sudo -u minkms bash -c 'set -a; . /etc/default/minkms; exec /usr/local/bin/minkms server \$MINIO_KMS_OPTS \$MINIO_KMS_VOLUME'"
fi
