#!/usr/bin/env bash
# mkcert.sh OUT KEY START END MD SUBJECT [EXTENSION-LINE...]
#
# Makes a self-signed certificate for KEY with the openssl CLI only (the
# independent peer signet's tests judge against), with any validity
# window, even one entirely in the past: `openssl ca -selfsign` takes
# -startdate/-enddate, which `openssl req -x509` (3.0) does not.
#   START, END  YYYYMMDDHHMMSSZ, or "now+Nd" / "now-Nd" (days from now)
#   MD          sha256, sha1, ...
#   SUBJECT     /CN=x/O=y
#   EXTENSION-LINE  openssl.cnf lines such as "extendedKeyUsage = serverAuth";
#               a subjectKeyIdentifier is always added.
set -eu
out=$1 key=$2 start=$3 end=$4 md=$5 subj=$6
shift 6
when() {
  case "$1" in
    now[+-]*d) d=${1#now}; d=${d%d}; date -u -d "@$(( $(date -u +%s) + d * 86400 ))" +%Y%m%d%H%M%SZ ;;
    *) echo "$1" ;;
  esac
}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
{
  printf '[req]\ndistinguished_name = dn\n[dn]\n'
  printf '[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = %s/index.txt\nnew_certs_dir = %s\n' "$w" "$w" "$w"
  printf 'serial = %s/serial\npolicy = anything\nunique_subject = no\nemail_in_dn = no\n' "$w"
  printf '[anything]\ncommonName = supplied\norganizationName = optional\ncountryName = optional\n'
  printf '[ext]\nsubjectKeyIdentifier = hash\n'
  for l in "$@"; do printf '%s\n' "$l"; done
} >"$w/ca.cnf"
: >"$w/index.txt"
# Random positive serial, as a real CA would use.
printf '4%s\n' "$(openssl rand -hex 16 | tr a-f A-F | cut -c2-)" >"$w/serial"
openssl req -new -config "$w/ca.cnf" -key "$key" -subj "$subj" -out "$w/req.csr" 2>/dev/null
openssl ca -batch -config "$w/ca.cnf" -selfsign -keyfile "$key" -in "$w/req.csr" -out "$out" \
  -startdate "$(when "$start")" -enddate "$(when "$end")" -md "$md" -extensions ext -notext -preserveDN \
  >"$w/log" 2>&1 || { cat "$w/log" >&2; exit 1; }
