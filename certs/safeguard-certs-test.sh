#!/usr/bin/env bash
# shellcheck disable=SC2016  # bash -c snippets expand their own $1/$2
# Self-test for safeguard-certs: mints a CA, node and broker certificates into
# a temporary directory and checks them with openssl verify / x509.
# Prints "N passed, M failed" last; exits non-zero if anything failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SC="$HERE/safeguard-certs"
T=$(mktemp -d "${TMPDIR:-/tmp}/safeguard-certs-test.XXXXXX")
trap 'rm -rf -- "$T"' EXIT
cd "$T" # run from an unrelated cwd

DOM=safeguard.test.example
PASS=0
FAIL=0
OUT=""
ERR=""
RC=0

ok() { PASS=$((PASS + 1)); printf 'ok   %s\n' "$1"; }
bad() { FAIL=$((FAIL + 1)); printf 'FAIL %s\n' "$1"; [[ -z ${2-} ]] || printf '     %s\n' "$2"; }
check() { # check NAME CMD... : passes when CMD succeeds
  local name=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}
# run CMD... : capture stdout/stderr/exit status of a command
run() {
  RC=0
  "$@" >"$T/.out" 2>"$T/.err" || RC=$?
  OUT=$(<"$T/.out")
  ERR=$(<"$T/.err")
}
expect_rc() { # expect_rc NAME WANT
  if [[ $RC -eq $2 ]]; then ok "$1"; else bad "$1" "exit $RC (want $2); stderr: $ERR"; fi
}
has() { grep -q -- "$2" <<<"$1"; }
mode() { stat -c %a "$1"; }
san() { openssl x509 -in "$1" -noout -ext subjectAltName | sed -n '2,$p' | sed 's/^ *//'; }
ext() { openssl x509 -in "$1" -noout -ext "$2"; }

# --- help and command-line errors ------------------------------------------
run "$SC" --help
expect_rc "--help exits 0" 0
check "--help lists commands and an example" has "$OUT" "issue-broker --ca-dir"
for c in init-ca issue-node issue-broker revoke crl show; do
  run "$SC" "$c" --help
  if [[ $RC -eq 0 ]] && has "$OUT" "Example"; then ok "$c --help"; else bad "$c --help" "rc=$RC"; fi
done
run "$SC" frobnicate
expect_rc "unknown command exits 2" 2
check "unknown command named on stderr" has "$ERR" "frobnicate"
check "unknown command prints nothing on stdout" test -z "$OUT"
run "$SC" issue-node --frob x
expect_rc "unknown flag exits 2" 2
check "unknown flag named on stderr" has "$ERR" "\-\-frob"
run "$SC"
expect_rc "no arguments exits 2" 2
run "$SC" init-ca --dir
expect_rc "flag without value exits 2" 2

# --- init-ca ----------------------------------------------------------------
run "$SC" init-ca --dir ca --partnership "$DOM"
expect_rc "init-ca succeeds" 0
check "ca.crt and ca.key exist" test -f ca/ca.crt -a -f ca/ca.key
check "ca.key mode 0600" test "$(mode ca/ca.key)" = 600
check "CA subject CN" has "$(openssl x509 -in ca/ca.crt -noout -subject)" "CN = $DOM partnership CA"
check "CA basicConstraints critical CA:TRUE" \
  has "$(ext ca/ca.crt basicConstraints | tr -d '\n')" "critical *CA:TRUE"
check "CA keyUsage critical keyCertSign,cRLSign" \
  has "$(ext ca/ca.crt keyUsage | tr -d '\n')" "critical *Certificate Sign, CRL Sign"
check "CA key is P-256" has "$(openssl x509 -in ca/ca.crt -noout -text)" "prime256v1"
check "CA signed with SHA-256" has "$(openssl x509 -in ca/ca.crt -noout -text)" "ecdsa-with-SHA256"
check "CA valid ~10 years" openssl x509 -in ca/ca.crt -noout -checkend $((3640 * 86400))
check "CA self-verifies" openssl verify -CAfile ca/ca.crt ca/ca.crt
keysum=$(sha256sum ca/ca.key)
run "$SC" init-ca --dir ca --partnership "$DOM"
if [[ $RC -ne 0 ]] && has "$ERR" "refusing to overwrite"; then ok "init-ca refuses existing CA"; else bad "init-ca refuses existing CA" "rc=$RC"; fi
check "existing ca.key untouched" test "$(sha256sum ca/ca.key)" = "$keysum"
check "no key material printed by init-ca" bash -c '! grep -q "PRIVATE KEY" "$1/.out" "$1/.err"' _ "$T"
run "$SC" init-ca --dir ca2 --partnership "Bad Domain"
expect_rc "init-ca rejects bad partnership" 2

# --- issue-node ---------------------------------------------------------------
types=(gp school housing police front-door social-care health early-help auditor)
allok=1
for i in "${!types[@]}"; do
  t=${types[$i]}
  run "$SC" issue-node --ca-dir ca --out "nodes/$t" --partnership "$DOM" --type "$t" --id "node-$i"
  if [[ $RC -ne 0 ]] || [[ "$(san "nodes/$t/node.crt")" != "URI:spiffe://$DOM/$t/node-$i" ]]; then
    allok=0
    bad "issue-node type $t" "rc=$RC $ERR"
  fi
done
[[ $allok -eq 0 ]] || ok "issue-node for all ${#types[@]} types, SAN exactly one URI"
n=nodes/gp
check "node files exist" test -f $n/node.crt -a -f $n/node.key -a -f $n/ca.crt
check "node.key mode 0600" test "$(mode $n/node.key)" = 600
check "node ca.crt is a copy of the CA" cmp -s $n/ca.crt ca/ca.crt
check "node verifies as TLS client" openssl verify -purpose sslclient -CAfile ca/ca.crt $n/node.crt
check "node is not a TLS server cert" bash -c '! openssl verify -purpose sslserver -CAfile "$1" "$2"' _ ca/ca.crt $n/node.crt
check "node EKU clientAuth only" test "$(ext $n/node.crt extendedKeyUsage | sed -n '2p' | sed 's/^ *//')" = "TLS Web Client Authentication"
check "node CN=ID" has "$(openssl x509 -in $n/node.crt -noout -subject)" "CN = node-0$"
check "node key matches cert" test "$(openssl pkey -in $n/node.key -pubout)" = "$(openssl x509 -in $n/node.crt -noout -pubkey)"
check "node key is P-256" has "$(openssl pkey -in $n/node.key -noout -text 2>/dev/null)" "prime256v1"
check "node default validity 825 days" bash -c 'openssl x509 -in "$1" -noout -checkend $((824*86400)) && ! openssl x509 -in "$1" -noout -checkend $((826*86400))' _ $n/node.crt
check "no key material printed by issue-node" bash -c '! grep -q "PRIVATE KEY" "$1/.out" "$1/.err"' _ "$T"
s1=$(openssl x509 -in nodes/gp/node.crt -noout -serial)
s2=$(openssl x509 -in nodes/school/node.crt -noout -serial)
check "serials are random and distinct" test "$s1" != "$s2" -a ${#s1} -ge 30

run "$SC" issue-node --ca-dir ca --out bad --partnership "$DOM" --type dentist --id x
if [[ $RC -ne 0 ]] && has "$ERR" "gp school housing police front-door social-care health early-help auditor"; then
  ok "bad --type rejected, types listed"
else bad "bad --type rejected, types listed" "rc=$RC"; fi
for id in Upper -lead "has_underscore" "$(printf 'a%.0s' {1..64})" ""; do
  run "$SC" issue-node --ca-dir ca --out bad --partnership "$DOM" --type gp --id "$id"
  if [[ $RC -eq 0 ]]; then bad "bad --id '$id' rejected"; else ok "bad --id '${id:0:12}' rejected"; fi
done
check "no output for rejected ids" test ! -e bad/node.key
run "$SC" issue-node --ca-dir ca --out long --partnership "$DOM" --type gp --id "$(printf 'a%.0s' {1..63})"
expect_rc "63-char id accepted" 0
run "$SC" issue-node --ca-dir ca --out other --partnership other.example --type gp --id x
if [[ $RC -ne 0 ]] && has "$ERR" "does not match"; then ok "partnership mismatch rejected"; else bad "partnership mismatch rejected" "rc=$RC"; fi
run "$SC" issue-node --ca-dir ca --out short --partnership "$DOM" --type police --id p1 --days 5
expect_rc "issue-node --days" 0
check "--days 5 honoured" bash -c 'openssl x509 -in "$1" -noout -checkend $((4*86400)) && ! openssl x509 -in "$1" -noout -checkend $((6*86400))' _ short/node.crt
run "$SC" issue-node --ca-dir ca --out x --partnership "$DOM" --type gp --id x --days abc
expect_rc "bad --days rejected" 2
run "$SC" issue-node --ca-dir nonexistent --out x --partnership "$DOM" --type gp --id x
if [[ $RC -ne 0 ]] && has "$ERR" "init-ca"; then ok "missing CA dir explained"; else bad "missing CA dir explained"; fi

# --- issue-broker -------------------------------------------------------------
run "$SC" issue-broker --ca-dir ca --out broker --partnership "$DOM"
expect_rc "issue-broker default" 0
check "broker default SAN" test "$(san broker/node.crt)" = \
  "URI:spiffe://$DOM/broker/broker, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
check "broker verifies as TLS server" openssl verify -purpose sslserver -CAfile ca/ca.crt broker/node.crt
check "broker verifies as TLS client" openssl verify -purpose sslclient -CAfile ca/ca.crt broker/node.crt
check "broker key 0600" test "$(mode broker/node.key)" = 600
check "broker ca.crt copied" cmp -s broker/ca.crt ca/ca.crt
run "$SC" issue-broker --ca-dir ca --out broker2 --partnership "$DOM" --name hub-1 \
  --dns broker.example.gov.uk --dns alt.example.gov.uk --ip 10.0.0.5 --ip fd00::5
expect_rc "issue-broker with extras" 0
check "broker extra SANs" test "$(san broker2/node.crt)" = \
  "URI:spiffe://$DOM/broker/hub-1, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:broker.example.gov.uk, DNS:alt.example.gov.uk, IP Address:10.0.0.5, IP Address:FD00:0:0:0:0:0:0:5"
check "broker CN=NAME" has "$(openssl x509 -in broker2/node.crt -noout -subject)" "CN = hub-1"
check "broker hostname check" openssl verify -CAfile ca/ca.crt -verify_hostname broker.example.gov.uk broker2/node.crt
check "broker IP check" openssl verify -CAfile ca/ca.crt -verify_ip 10.0.0.5 broker2/node.crt
run "$SC" issue-broker --ca-dir ca --out x --partnership "$DOM" --ip not-an-ip
expect_rc "bad --ip rejected" 2
run "$SC" issue-broker --ca-dir ca --out x --partnership "$DOM" --dns "bad host"
expect_rc "bad --dns rejected" 2

# --- crl / revoke ---------------------------------------------------------------
run "$SC" crl --ca-dir ca --out crl
expect_rc "crl with nothing revoked" 0
hash=$(openssl x509 -in ca/ca.crt -noout -subject_hash)
check "crl written as <hash>.r0" test -f "crl/$hash.r0"
check "crl hash matches openssl crl -hash" test "$(openssl crl -in "crl/$hash.r0" -hash -noout)" = "$hash"
check "crl signed by CA" openssl crl -in "crl/$hash.r0" -CAfile ca/ca.crt -noout
check "node passes CRL check before revoke" openssl verify -crl_check -CAfile ca/ca.crt -CRLfile "crl/$hash.r0" nodes/gp/node.crt

run "$SC" revoke --ca-dir ca --cert nodes/gp/node.crt
expect_rc "revoke succeeds" 0
run "$SC" revoke --ca-dir ca --cert nodes/gp/node.crt
expect_rc "revoke again is idempotent" 0
run "$SC" crl --ca-dir ca --out crl
expect_rc "crl after revoke" 0
check "only one CRL file" test "$(find crl -type f | wc -l)" -eq 1
# hashed-directory lookup, as gRPC's set_crl_directory / -CApath use it
mkdir hashdir
cp ca/ca.crt "hashdir/$hash.0"
cp "crl/$hash.r0" hashdir/
run openssl verify -crl_check -CApath hashdir nodes/gp/node.crt
if [[ $RC -ne 0 ]] && has "$OUT$ERR" "certificate revoked"; then ok "revoked node rejected via hash dir"; else bad "revoked node rejected via hash dir" "$OUT $ERR"; fi
check "other node still valid via hash dir" openssl verify -crl_check -CApath hashdir nodes/school/node.crt
check "broker still valid via hash dir" openssl verify -crl_check -CApath hashdir broker/node.crt

"$SC" init-ca --dir ca-other --partnership other.example >/dev/null
"$SC" issue-node --ca-dir ca-other --out foreign --partnership other.example --type gp --id f >/dev/null
run "$SC" revoke --ca-dir ca --cert foreign/node.crt
if [[ $RC -ne 0 ]] && has "$ERR" "not issued by"; then ok "revoke of foreign cert refused"; else bad "revoke of foreign cert refused"; fi
run "$SC" revoke --ca-dir ca --cert nodes/school/node.key
if [[ $RC -ne 0 ]] && ! has "$OUT$ERR" "PRIVATE KEY"; then ok "revoke of key file refused"; else bad "revoke of key file refused"; fi

# --- show -----------------------------------------------------------------------
run "$SC" show broker2/node.crt
expect_rc "show succeeds" 0
check "show has subject" has "$OUT" "CN=hub-1"
check "show has SAN" has "$OUT" "spiffe://$DOM/broker/hub-1"
check "show has serial" has "$OUT" "$(openssl x509 -in broker2/node.crt -noout -serial | cut -d= -f2)"
check "show has notBefore/notAfter" bash -c 'grep -q notBefore <<<"$1" && grep -q notAfter <<<"$1"' _ "$OUT"
run "$SC" show broker2/node.key
if [[ $RC -ne 0 ]] && ! has "$OUT$ERR" "BEGIN" && ! has "$OUT$ERR" "$(sed -n 2p broker2/node.key)"; then
  ok "show refuses key without printing it"
else bad "show refuses key without printing it"; fi

# --- speed: ~10 node mints ------------------------------------------------------
start=$(date +%s%N)
for i in $(seq 1 10); do
  "$SC" issue-node --ca-dir ca --out "speed/$i" --partnership "$DOM" --type health --id "h$i" >/dev/null
done
ms=$((($(date +%s%N) - start) / 1000000))
if [[ $ms -lt 10000 ]]; then ok "10 node mints in ${ms} ms"; else bad "10 node mints too slow (${ms} ms)"; fi

# --- non-root -------------------------------------------------------------------
# (only when run as root and user 'nobody' can reach the script and $T)
chmod 0755 "$T"
if [[ $(id -u) -eq 0 ]] && command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1 &&
  runuser -u nobody -- test -x "$SC" -a -x "$T" 2>/dev/null; then
  nr="$T/nonroot"
  mkdir -m 0777 "$nr"
  if runuser -u nobody -- env TMPDIR="$nr" bash -c 'cd "$2" && "$1" init-ca --dir ca --partnership n.example >/dev/null &&
       "$1" issue-node --ca-dir ca --out n --partnership n.example --type gp --id a >/dev/null &&
       "$1" crl --ca-dir ca --out crl >/dev/null' _ "$SC" "$nr" >/dev/null 2>&1 &&
    openssl verify -CAfile "$nr/ca/ca.crt" "$nr/n/node.crt" >/dev/null 2>&1; then
    ok "works as non-root user"
  else
    bad "works as non-root user"
  fi
fi

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
