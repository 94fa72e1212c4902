#!/usr/bin/env bash
# The local demo partnership, end to end: install, build, mint certificates, start the broker and
# play a short story from the domain — several agencies each hold a piece of one child's story;
# the broker puts every piece in front of the local authority's front door, which acknowledges
# them, and each sender can see that it was received and by whom. Then the child gets a plan:
# the GP receives her flag, and the next missed appointment reaches her lead worker directly.
#
# Everything it creates lives in its work directory (default deploy/demo/run/, not committed).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/demo/run-demo.sh [--build-dir DIR] [--work-dir DIR] [--keep-running]

  --build-dir DIR   use binaries already built in DIR (skips installing and building)
  --work-dir DIR    where certificates, the store and logs go (default deploy/demo/run);
                    it is emptied first
  --keep-running    leave the broker running at the end, and print how to use safeguardctl
                    against it
EOF
}

root="$(cd "$(dirname "$0")/../.." && pwd)"
build_dir=""
work="$root/deploy/demo/run"
keep_running=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --work-dir) work="$2"; shift 2 ;;
    --keep-running) keep_running=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-demo.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

if [ -t 1 ]; then
  bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
  bold() { printf '\n== %s\n' "$*"; }
fi
say() { printf '   %s\n' "$*"; }
fail() { printf '\nDEMO FAILED: %s\n' "$*" >&2; exit 1; }

if [ -z "$build_dir" ]; then
  bold "1. Installing dependencies (Debian packages) and building"
  "$root/deploy/install-deps.sh"
  "$root/deploy/build.sh"
  build_dir="$root/build"
fi
broker_bin="$build_dir/broker/server/safeguard-broker"
ctl_bin="$build_dir/clients/safeguardctl/safeguardctl"
certs="$root/certs/safeguard-certs"
[ -x "$broker_bin" ] && [ -x "$ctl_bin" ] || fail "no binaries in $build_dir; build first"

rm -rf "$work"
mkdir -p "$work/certs"
partnership="demo.safeguarding.example"

bold "2. Minting the partnership CA and a certificate for the broker and each node"
"$certs" init-ca --dir "$work/certs/ca" --partnership "$partnership" >/dev/null
"$certs" issue-broker --ca-dir "$work/certs/ca" --out "$work/certs/broker" \
  --partnership "$partnership" >/dev/null
while read -r id type; do
  "$certs" issue-node --ca-dir "$work/certs/ca" --out "$work/certs/$id" \
    --partnership "$partnership" --type "$type" --id "$id" >/dev/null
  say "$id ($type): spiffe://$partnership/$type/$id"
done <<'EOF'
gp-riverside gp
school-oakfield school
housing-swindon housing
police-wiltshire police
fd-swindon front-door
csc-north social-care
auditor-scp auditor
EOF

bold "3. Starting safeguard-broker (mutual TLS on 127.0.0.1, SQLite store with fsync)"
cp "$root/deploy/demo/broker.conf" "$work/broker.conf"
cp -r "$root/deploy/policy" "$work/policy"
# So that the story can show an escalation within a minute, the demo's copy of the policy
# shortens the "one working day" deadline to 12 seconds (the real rule: the end of the next
# working day in the area's calendar). Everything else is the default policy.
sed -i 's/due: {end-of-working-day: 1}/due: {within: 12s}/' "$work/policy/england.yaml"
grep -q 'due: {within: 12s}' "$work/policy/england.yaml" \
  || fail "could not shorten the demo's one-working-day deadline"
cp -r "$root/deploy/calendars" "$work/calendars"
"$broker_bin" --config="$work/broker.conf" --port_file="$work/port" \
  --escalation_check_seconds=1 2>"$work/broker.log" &
broker_pid=$!
stop_broker() {
  if kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid"
    wait "$broker_pid" 2>/dev/null || true
  fi
}
trap stop_broker EXIT
for _ in $(seq 1 300); do
  [ -s "$work/port" ] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log" >&2; fail "the broker did not start"; }
  sleep 0.02
done
[ -s "$work/port" ] || fail "the broker did not start within 6 seconds"
address="127.0.0.1:$(cat "$work/port")"
say "serving on $address; log in $work/broker.log"

# safeguardctl as a given node.
as() {
  local node="$1"; shift
  "$ctl_bin" --broker="$address" --identity="$work/certs/$node" "$@"
}
json_field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -n1; }

# Each agency indicates a possible risk of harm: the sharing policy then shares with the front
# door, whatever the state of consent (DPA 2018 Sch 1 para 18(c)).
child=(--nhs="943 476 5919" --child-name="Child L (age 5)" --risk)
bold "4. Four agencies each report what they know about Child L"
say "GP: not brought to a third paediatric appointment"
gp_id=$(as gp-riverside --json send --type=was-not-brought "${child[@]}" --severity=concern \
  --summary="Not brought to third paediatric appointment; immunisations outstanding" \
  --details='{"clinic":"community paediatrics","missed_in_a_row":3}' | json_field notification_id)
say "School: part-time timetable and absences"
school_id=$(as school-oakfield --json send --type=part-time-timetable "${child[@]}" \
  --summary="On a part-time timetable since September; absent 8 of the last 10 sessions" \
  | json_field notification_id)
say "Housing: no access at the family's address, and the electricity cut off."
say "The mother has refused consent to information sharing; the concern is shared anyway:"
visit_time=$(date -u -d '2 hours ago' +%Y-%m-%dT%H:%M:00Z)
as housing-swindon send --type=no-access-visit "${child[@]}" --consent=refused \
  --idempotency-key="housing-visit-0412" --occurred="$visit_time" \
  --summary="Third visit with no access; neighbours report the electricity has been cut off" \
  > "$work/housing-send.txt"
sed -n '2,4p' "$work/housing-send.txt" | sed 's/^/   /'
grep -q "SHARED under .*18" "$work/housing-send.txt" || fail "the refused-consent concern was not shared"
housing_id=$(sed -n 's/^accepted: notification \([0-9a-f]*\).*/\1/p' "$work/housing-send.txt")
say "Police: a domestic-abuse call-out at the address, to the front door and the school"
police_id=$(as police-wiltshire --json send --type=police-domestic-abuse-incident "${child[@]}" \
  --severity=urgent --to=fd-swindon --to=school-oakfield \
  --police-details='{"incident":"WPC-2026-1142","offence":"assault","arrest":true}' \
  --summary="Call-out to the home overnight; child present" | json_field notification_id)
say "Every notification was sealed and signed by its sender; every receipt signed by the broker"
for id in "$gp_id" "$school_id" "$housing_id" "$police_id"; do
  [ ${#id} -eq 32 ] || fail "a notification was not accepted"
done

bold "5. Housing's system retries a send (same idempotency key): no duplicate is created"
retry=$(as housing-swindon send --type=no-access-visit "${child[@]}" --consent=refused \
  --idempotency-key="housing-visit-0412" --occurred="$visit_time" \
  --summary="Third visit with no access; neighbours report the electricity has been cut off")
say "$retry" | head -n1
echo "$retry" | grep -q "already accepted (this was a retry): notification $housing_id" \
  || fail "the retry was not recognised"

bold "6. A mistyped NHS number is refused with a message that says what to fix"
if out=$(as gp-riverside send --type=was-not-brought --nhs="943 476 5918" --summary="x" 2>&1); then
  fail "a bad NHS number was accepted"
fi
say "$out"
say "and the broker itself refuses (and logs) a send to a node that may not receive it:"
if out=$(as gp-riverside send --type=was-not-brought "${child[@]}" --summary="x" \
    --to=auditor-scp 2>&1); then
  fail "a notification to an auditor was accepted"
fi
say "$out"

bold "7. The front door's inbox: every piece of the story, in one place"
inbox=$(as fd-swindon inbox)
echo "$inbox" | sed 's/^/   /'
cursors=$(as fd-swindon --json inbox | sed -n 's/.*"cursor":"\{0,1\}\([0-9]*\).*/\1/p' | tr '\n' ' ')
count=$(echo "$cursors" | wc -w)
[ "$count" -eq 4 ] || fail "the front door should hold 4 notifications, it holds $count"

bold "8. The duty social worker acknowledges them"
# shellcheck disable=SC2086
as fd-swindon ack $cursors --by="A. Patel, duty social worker (MASH)" | sed 's/^/   /'

bold "9. Each agency can see that its concern was received, and by whom"
for pair in "housing-swindon $housing_id" "gp-riverside $gp_id" "police-wiltshire $police_id"; do
  set -- $pair
  as "$1" status "$2" | sed 's/^/   /'
done
as housing-swindon status "$housing_id" | grep -q "acknowledged .* by A. Patel" \
  || fail "housing cannot see the acknowledgement"
as police-wiltshire status "$police_id" | grep -q "school-oakfield (school) as school: \(delivered\|queued\)" \
  || fail "the school's copy of the police notification is not pending"

bold "10. The school received the police notification too, minimised: police details withheld"
school_inbox=$(as school-oakfield inbox)
echo "$school_inbox" | sed 's/^/   /'
echo "$school_inbox" | grep -q "police-domestic-abuse-incident" || fail "the school missed it"
echo "$school_inbox" | grep -q "^1 delivery\." || fail "the school sees more than was sent to it"
echo "$school_inbox" | grep -q "signature verified: .*withheld from you: police-details" \
  || fail "the school's minimised copy did not verify"

bold "11. Anyone can check a saved delivery against the sender's signature, offline"
as fd-swindon --json inbox --all > "$work/fd-deliveries.jsonl"
as fd-swindon verify "$work/fd-deliveries.jsonl" | tail -n 1 | sed 's/^/   /'
as fd-swindon verify "$work/fd-deliveries.jsonl" >/dev/null || fail "saved deliveries do not verify"
sed 's/Call-out to the home overnight/Nothing happened/' "$work/fd-deliveries.jsonl" \
  > "$work/altered.jsonl"
if as fd-swindon verify "$work/altered.jsonl" > "$work/altered.out"; then
  fail "an altered delivery verified"
fi
say "an altered copy is caught: $(grep -m1 'NOT VERIFIED' "$work/altered.out" | sed 's/^ *//')"

bold "12. Child L gets a child protection plan: the registry now knows her lead worker"
as csc-north registry put-involvement --reference=CP-0417 --plan=child-protection \
  --child="nhs:9434765919" --child-name="Child L" \
  --lead-worker="id=sw-17,name=Sam Jones,team=North,contact=01793 100200" \
  --deputy="id=sw-22,name=Alex Morgan,team=North,contact=01793 100202" \
  --team-manager="id=tm-3,name=Priya Shah,team=North,contact=01793 100201" \
  --escalation-contact="name=Priya Shah,role=team manager,contact=01793 100201" \
  --start="$(date -u +%Y-%m-%d)" | sed 's/^/   /'
say "The surgery registers its patients with the broker and receives the flag:"
printf 'nhs:9434765919\nnhs:9434765870\n' > "$work/riverside-list.txt"
as gp-riverside flags served --replace="$work/riverside-list.txt" | sed 's/^/   /'
flags=$(as gp-riverside flags watch)
echo "$flags" | sed 's/^/   /'
echo "$flags" | grep -qi "child-protection" || fail "the GP did not receive Child L's flag"
bold "13. The next missed appointment goes straight to the lead worker, not the front door"
wnb=$(as gp-riverside send --type=was-not-brought --nhs="943 476 5919" --severity=concern \
  --summary="Not brought to the rescheduled paediatric appointment")
echo "$wnb" | sed 's/^/   /'
echo "$wnb" | grep -q "csc-north (social-care) as lead-worker for sw-17" \
  || fail "the missed appointment did not reach the lead worker"
wnb_id=$(echo "$wnb" | sed -n 's/^accepted: notification \([0-9a-f]*\).*/\1/p')
say "The surgery's reception checks Child L in for an appointment: the lead worker is told"
as gp-riverside flags lookup nhs:9434765919 --reason=attendance --by="Reception, Riverside" \
  | sed 's/^/   /'
lw_inbox=$(as csc-north inbox)
echo "$lw_inbox" | sed 's/^/   /'
echo "$lw_inbox" | grep -q "was-not-brought" || fail "the lead worker missed the notification"
echo "$lw_inbox" | grep -q "flag-looked-up" || fail "the lead worker was not told of the look-up"
bold "14. The lead worker acknowledges and records the outcome; the GP sees it, and how to challenge it"
wnb_cursor=$(as csc-north --json inbox | grep "$wnb_id" \
  | sed -n 's/.*"cursor":"\{0,1\}\([0-9]*\).*/\1/p' | head -n1)
# shellcheck disable=SC2046
as csc-north ack $(as csc-north --json inbox | sed -n 's/.*"cursor":"\{0,1\}\([0-9]*\).*/\1/p') \
  --by="Sam Jones" | sed 's/^/   /'
as csc-north outcome "$wnb_cursor" --kind=plan-reviewed --by="Sam Jones" \
  --rationale="Added to the core group agenda; health visitor to accompany the next appointment" \
  | sed 's/^/   /'
gp_status=$(as gp-riverside status "$wnb_id")
echo "$gp_status" | sed 's/^/   /'
echo "$gp_status" | grep -q "to challenge it: .*Priya Shah" \
  || fail "the GP cannot see the outcome and the escalation contact"

bold "15. The missed contacts add up: a cumulative concern reaches the lead worker"
say "Two missed appointments (GP) and a no-access visit (housing) within 90 days, from two"
say "agencies: the policy's rule missed-contacts-across-agencies raises a concern listing them."
concern=""
for _ in $(seq 1 50); do
  concern=$(as csc-north inbox --all | grep -A3 "cumulative-concern" || true)
  [ -n "$concern" ] && break
  sleep 0.2
done
[ -n "$concern" ] || fail "no cumulative concern reached the lead worker"
echo "$concern" | sed 's/^/   /'
pending=$(as csc-north --json inbox | sed -n 's/.*"cursor":"\{0,1\}\([0-9]*\).*/\1/p' | tr '\n' ' ')
# shellcheck disable=SC2086
[ -z "$pending" ] || as csc-north ack $pending --by="Sam Jones" >/dev/null

bold "16. Nobody acknowledges the school's next report in time: it escalates to the deputy"
absence_id=$(as school-oakfield --json send --type=school-absence --nhs="943 476 5919" \
  --summary="Absent again today; no contact from home" | json_field notification_id)
say "sent $absence_id; the team's system collects it, but the lead worker is on leave and"
say "nobody acknowledges it (deadline 12 s); the GP's system acknowledges its network copy"
as csc-north inbox >/dev/null
gp_pending=$(as gp-riverside --json inbox | sed -n 's/.*"cursor":"\{0,1\}\([0-9]*\).*/\1/p' | tr '\n' ' ')
# shellcheck disable=SC2086
[ -z "$gp_pending" ] || as gp-riverside ack $gp_pending --by="Riverside Surgery system" >/dev/null
escalated=""
for _ in $(seq 1 60); do
  escalated=$(as school-oakfield status "$absence_id" | grep "escalated" || true)
  [ -n "$escalated" ] && break
  sleep 0.5
done
[ -n "$escalated" ] || fail "the unacknowledged report was not escalated"
as school-oakfield status "$absence_id" | sed 's/^/   /'
deputy_inbox=$(as csc-north inbox)
echo "$deputy_inbox" | grep -B1 -A4 "escalation  " | sed 's/^/   /'
echo "$deputy_inbox" | grep -q "for sw-22: escalation step 1: deputy" \
  || fail "the deputy did not receive the escalation notice"

bold "17. The lead worker brings the multi-agency chronology to the core group"
as csc-north chronology nhs:9434765919 --purpose="Core group, Child L" | sed 's/^/   /'
as csc-north chronology nhs:9434765919 --purpose="Core group, Child L (printed)" --format=html \
  --out="$work/chronology-child-L.html" >/dev/null || fail "the chronology could not be exported"
say "printable copy: $work/chronology-child-L.html (every view is recorded in the audit log)"

bold "18. The partnership's auditor checks the sharing log, independently"
log_key="--log-key=$work/data/checkpoint.pub"
sleep 1.2  # a checkpoint is signed every second
as auditor-scp audit checkpoint --save="$work/checkpoint.note" "$log_key" | sed 's/^/   /'
as auditor-scp audit export --out="$work/audit-log.jsonl" "$log_key" >/dev/null 2>&1 \
  || fail "the auditor could not export the log"
as auditor-scp audit verify "$work/audit-log.jsonl" "$log_key" | sed 's/^/   /'
as auditor-scp audit search --nhs="943 476 5919" | tail -n 4 | sed 's/^/   /'
as auditor-scp audit report | sed -n '1,8p' | sed 's/^/   /'
as auditor-scp audit search --event=refused | grep -q "gp-riverside" \
  || fail "the refused send is missing from the audit log"

bold "Demo complete"
say "Four agencies reported; the front door received all four and acknowledged them;"
say "once Child L had a plan, the GP held her flag, the next missed appointment and the GP's"
say "look-up went straight to her lead worker, and the GP saw the outcome and whom to challenge;"
say "the missed contacts from two agencies added up to a cumulative concern; a report nobody"
say "acknowledged in time escalated to the deputy, and the school could see it had;"
say "every sender saw who acknowledged; the retry made no duplicate; the typo was refused;"
say "every delivery verified against its sender's signature, the school's with police details"
say "withheld, and an altered copy was caught; the auditor verified every sharing event in the"
say "tamper-evident log, including the refused send, without seeing the child's details."
if [ "$keep_running" -eq 1 ]; then
  trap - EXIT
  say ""
  say "The broker is still running (pid $broker_pid). Try, for example:"
  say "  export SAFEGUARD_BROKER=$address SAFEGUARD_IDENTITY=$work/certs/fd-swindon"
  say "  $ctl_bin inbox --all"
  say "Stop it with: kill $broker_pid"
fi
