#!/bin/sh
# The agreement played end to end with the act commands (issue 3): a normal
# request by a ministry's CISO; an emergency request by a CSIRT to a field
# leader, dispatched by the deputy acting for an unreachable director; a
# ministry asking for its IAA and then for a cloud provider (a direct
# stakeholder); a dispatch before any request, with the CSIRT's consent;
# damage reports, one standing in for the GSOC report with consent and one
# without (refused); the CISO's opinion and the director's closure; quota
# breaches (a fifth candidate, candidates and trainees over 4, an observer's
# fifth trainee).  Every refusal names its rule and writes nothing; status,
# incident show, roster and findings tell the story.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

make_ledger "$T/l.git"
c() { "$CYMAT" -C "$L" "$@"; }

# bind SIGNER NAME PRINCIPAL ROLE [principal add options]: a key and its binding.
bind() {
	signer=$1 name=$2 principal=$3 role=$4
	shift 4
	key "$name"
	c principal add --key "$K/$signer" --pub "$K/$name" --role "$role" "$@" "$principal" \
		>/dev/null || fail "binding $principal failed"
}

# refused RULE CMD...: the act is refused (exit 1) naming RULE, and main has not moved.
refused() {
	rule=$1
	shift
	before=$(git -C "$L" rev-parse refs/heads/main)
	expect 1 "$@"
	case $rule in R*) assert_err "refused by the rules" ;; esac
	assert_err "error $rule "
	assert_err "nothing written"
	assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after a refusal ($rule)"
}

# json_check PYTHON: run PYTHON with `o` the JSON of the last run's stdout.
json_check() {
	python3 -c "import json, sys
o = json.load(open(sys.argv[1]))
$1" "$T/out" || { show_output; fail "unexpected JSON: $1"; }
}

say "the people"
bind director fl1 nisc/fl1 field_leader --full-time --nisc-resident
bind director fl2 nisc/fl2 field_leader --full-time --nisc-resident
bind manager analyst nisc/analyst auditor --full-time --nisc-resident
bind manager obs-ciso obs/ciso ciso --full-time
bind manager jfc-ciso jfc/ciso ciso --full-time
bind manager cloud-ciso cloudco/ciso ciso
for n in 1 2 3 4 5; do
	bind moj-ciso "moj-c$n" "moj/c$n" trainee --full-time
	bind obs-ciso "obs-t$n" "obs/t$n" trainee --full-time
done
for n in 1 2 3; do
	bind mof-ciso "mof-p$n" "mof/p$n" trainee --full-time
done

say "section 2: the organisations"
ok c agency add --key "$K/manager" --id moj --kind government \
	--name-ja 法務省 --name-en "Ministry of Justice"
ok c agency add --key "$K/manager" --id mof --kind government \
	--name-ja 財務省 --name-en "Ministry of Finance"
ok c agency add --key "$K/manager" --id obs --kind observer \
	--name-ja 観測機関 --name-en "Observer Agency"
# R2.2: an IAA names a government agency overseeing it.
refused R2.2 c agency add --key "$K/manager" --id jfc --kind iaa --parent obs \
	--name-ja 日本政策金融公庫 --name-en "Japan Finance Corporation"
ok c agency add --key "$K/manager" --id jfc --kind iaa --parent mof \
	--name-ja 日本政策金融公庫 --name-en "Japan Finance Corporation"
# R2.1: only the director or the manager registers organisations.
refused R2.1 c agency add --key "$K/moj-ciso" --id moj2 --kind government \
	--name-ja 法務省二 --name-en "Ministry Two"

say "sections 5-9: the roster"
ok c appoint --key "$K/director" --principal nisc/fl1 --role field_leader
ok c appoint --key "$K/director" --principal nisc/fl2 --role field_leader
# R6.1: the manager is appointed by the director, not by the manager.
refused R6.1 c appoint --key "$K/manager" --principal nisc/analyst --role manager
for n in 1 2 3 4; do
	ok c nominate --key "$K/moj-ciso" --candidate "moj/c$n"
	eval "NOM$n=\$(last_id)"
done
# R8.1: a fifth active candidate.
refused R8.1 c nominate --key "$K/moj-ciso" --candidate moj/c5
assert_err "candidate-quota"
# A withdrawal frees the place for a replacement (R9.1).
ok c withdraw --key "$K/moj-ciso" --withdraws "$NOM4" --what nomination \
	--reason "Transferred to another ministry"
WD=$(last_id)
ok c nominate --key "$K/moj-ciso" --candidate moj/c5 --replaces "$WD"
ok c appoint --key "$K/director" --principal moj/c1 --role member --nomination "$NOM1"
# R8.2: candidates and trainees at most 4 together.
ok c nominate --key "$K/mof-ciso" --candidate mof/p1
ok c nominate --key "$K/mof-ciso" --candidate mof/p2
ok c trainee register --key "$K/mof-ciso" --trainee mof/p3
key mof-p4
ok c principal add --key "$K/mof-ciso" --pub "$K/mof-p4" --role trainee --full-time mof/p4
ok c trainee register --key "$K/mof-ciso" --trainee mof/p4
key mof-p5
ok c principal add --key "$K/mof-ciso" --pub "$K/mof-p5" --role trainee --full-time mof/p5
refused R8.2 c trainee register --key "$K/mof-ciso" --trainee mof/p5
assert_err "combined-quota"
# R8.3: an observer has at most 4 trainees.
for n in 1 2 3 4; do
	ok c trainee register --key "$K/obs-ciso" --trainee "obs/t$n"
done
refused R8.3 c trainee register --key "$K/obs-ciso" --trainee obs/t5
assert_err "observer-trainee-quota"
ok c training apply --key "$K/obs-ciso" --trainee obs/t1 --trainee obs/t2 \
	--kind exercise --title "Joint incident response exercise"
# R7.2: only registered, active trainees.
refused R7.2 c training apply --key "$K/obs-ciso" --trainee obs/t5 --title "Forensics course"

ok c roster
assert_out "moj (government) Ministry of Justice"
assert_out "candidates 4/4"
ok c roster --json
json_check '
ag = {a["id"]: a for a in o["agencies"]}
assert ag["moj"]["candidates"] == ["moj/c1", "moj/c2", "moj/c3", "moj/c5"], ag["moj"]
assert ag["mof"]["quota"] == {"candidates": 2, "candidates_max": 4, "trainees": 2,
                              "total_max": 4}, ag["mof"]
assert ag["obs"]["quota"] == {"trainees": 4, "trainees_max": 4}, ag["obs"]
assert ag["jfc"]["parent"] == "mof", ag["jfc"]
assert o["cymat"]["field_leaders"] == ["nisc/fl1", "nisc/fl2"], o["cymat"]
assert o["cymat"]["members"] == ["moj/c1"], o["cymat"]
'

say "incident 1: a normal request by moj's CISO, to closure"
# R10.4: on the normal route the request is the CISO's, not the CSIRT's.
refused R10.4 c request --key "$K/moj-csirt" --affected moj --summary "Intrusion"
ok c request --key "$K/moj-ciso" --affected moj --summary "Intrusion into the visa system" \
	--system visa
INC1=$(last_id)
# R11.1: the manager does not order a dispatch.
refused R11.1 c dispatch --key "$K/manager" --request "$INC1" --affected moj \
	--field-leader nisc/fl1
ok c dispatch --key "$K/director" --request "$INC1" --affected moj \
	--field-leader nisc/fl1 --member moj/c1 --summary "Establish the facts"
ok c activity --key "$K/fl1" --incident "$INC1" --kind 12.1a \
	--summary "Collected the logs of the visa servers"
# R12.1: activities are CYMAT's, not the agency's.
refused R12.1 c activity --key "$K/moj-csirt" --incident "$INC1" --kind 12.1a \
	--summary "Looked at the logs"
ok c report --key "$K/moj-csirt" --class c2 --incident "$INC1" --number 1 \
	--status investigating --summary "Two servers isolated"
REP1=$(last_id)
# R13.2: standing in for the GSOC report needs the organisation's own consent:
# none at all is refused by the schema, mof's by the rule.
refused FORMAT-2 c report --key "$K/moj-csirt" --incident "$INC1" --number 2 \
	--status contained --gsoc-substitute
assert_err 'missing member "consent"'
ok c consent --key "$K/mof-ciso" --purpose gsoc_substitute
MOFGSOC=$(last_id)
refused R13.2 c report --key "$K/moj-csirt" --incident "$INC1" --number 2 \
	--status contained --gsoc-substitute --consent "$MOFGSOC"
# The timeline below has this consent after the first report: a second later.
after_this_second
ok c consent --key "$K/moj-ciso" --incident "$INC1" --purpose gsoc_substitute \
	--note "Our reports to CYMAT stand in for GSOC's"
GSOC=$(last_id)
ok c report --key "$K/moj-csirt" --incident "$INC1" --number 2 --status contained \
	--gsoc-substitute --consent "$GSOC" --summary "Contained; no data left"
# R14.1: the closure hears the CISO's opinion, and is the director's.
ok c opinion --key "$K/moj-ciso" --incident "$INC1" --view end_support \
	--summary "We can go on alone"
OPN=$(last_id)
refused R14.1 c close --key "$K/moj-ciso" --incident "$INC1" --opinion "$OPN" \
	--decision "Support ends"
ok c close --key "$K/director" --incident "$INC1" --opinion "$OPN" --decision "Support ends"
CLO1=$(last_id)
refused R14.1 c activity --key "$K/fl1" --incident "$INC1" --kind 12.1b \
	--summary "More advice"

say "incident 2: an emergency request by mof's CSIRT to a field leader"
ok c request --key "$K/mof-csirt" --route emergency --to field_leader --addressee nisc/fl2 \
	--affected mof --summary "Ransomware on the file servers" \
	--emergency-reason "The CISO cannot be reached"
INC2=$(last_id)
# R4.2: the director cannot be reached; the deputy acts, with a reason.
refused R4.2 c dispatch --key "$K/deputy" --request "$INC2" --affected mof \
	--field-leader nisc/fl2
ok c dispatch --key "$K/deputy" --request "$INC2" --affected mof --field-leader nisc/fl2 \
	--acting "The director is abroad and cannot be reached; the encryption is spreading"
ok c participate --key "$K/manager" --incident "$INC2" --principal nisc/analyst \
	--emergency-reason "A malware analyst is needed tonight"
ok c activity --key "$K/analyst" --incident "$INC2" --kind 12.1b \
	--summary "Advised on isolating the backups" --advice-to moj

say "incidents 3 and 4: mof asks for its IAA, then for a cloud provider"
# R10.2: for its IAA, on the IAA's own ask; moj oversees no IAA.
refused R10.2 c request --key "$K/moj-ciso" --basis 10.2 --affected jfc \
	--ask-agency jfc --ask-time 2026-11-26T00:00:00Z --ask-text "Please help" \
	--summary "Phishing at JFC"
ok c request --key "$K/mof-ciso" --basis 10.2 --affected jfc --ask-agency jfc \
	--ask-time 2026-11-26T00:00:00Z --ask-text "Please send CYMAT" \
	--summary "Phishing at JFC"
INC3=$(last_id)
ok c agency add --key "$K/manager" --id cloudco --kind stakeholder \
	--name-ja クラウド社 --name-en CloudCo --requesting-agency mof --incident "$INC3"
ok c request --key "$K/mof-ciso" --basis 10.3 --affected cloudco --related "$INC3" \
	--ask-agency cloudco --ask-time 2026-11-26T00:00:00Z \
	--ask-text "Our tenant's mail is abused" --summary "Mail relay abused at CloudCo"
INC4=$(last_id)

say "incident 5: a dispatch before any request, with moj's CSIRT consent"
# R11.2: the consent is the CSIRT's, not the CISO's.
refused R11.2 c consent --key "$K/moj-ciso" --purpose pre_request_dispatch
ok c consent --key "$K/moj-csirt" --purpose pre_request_dispatch --note "Come before we ask"
PRE=$(last_id)
# R11.2: moj's consent does not let CYMAT into mof.
refused R11.2 c dispatch --key "$K/director" --consent "$PRE" --affected mof \
	--field-leader nisc/fl1
ok c dispatch --key "$K/director" --consent "$PRE" --affected moj --field-leader nisc/fl1 \
	--summary "Suspicious beacons seen from outside"
INC5=$(last_id)

say "section 15: sharing moj's c2 report with mof"
refused R15.1 c share --key "$K/manager" --source "$REP1" --recipient mof --purpose 15a \
	--consent "$GSOC"
ok c consent --key "$K/moj-ciso" --purpose 15a --scope-record "$REP1" --recipient mof \
	--use "Warn mof of the same intrusion"
C15=$(last_id)
ok c share --key "$K/manager" --source "$REP1" --recipient mof --purpose 15a \
	--consent "$C15" --use "mof runs the same visa software"

say "section 16: the director's report to the council"
ok c council-report --dry-run --key "$K/director" --from 2026-01-01T00:00:00Z \
	--until 2100-01-01T00:00:00Z
json_check '
s = o["summary"]
assert s["incidents"] == {"opened": 5, "dispatched": 3, "closed": 1}, s
assert s["records"]["request"] == 4 and s["records"]["nomination"] == 7, s
'
ok c council-report --key "$K/director" --from 2026-01-01T00:00:00Z \
	--until 2100-01-01T00:00:00Z --published

say "the views"
export INC1 INC2 INC3 INC4 INC5 CLO1
ok c status --all --json
json_check '
import os
inc = {i["id"]: i for i in o}
e = lambda k: inc[os.environ[k]]
assert len(inc) == 5, o
assert e("INC1")["state"] == "closed" and e("INC1")["closure"] == os.environ["CLO1"], e("INC1")
assert e("INC1")["route"] == "normal" and e("INC1")["reports"] == 2, e("INC1")
assert e("INC2")["route"] == "emergency" and e("INC2")["state"] == "dispatched", e("INC2")
assert e("INC3")["basis"] == "10.2" and e("INC3")["requested_by"] == "mof", e("INC3")
assert e("INC3")["on_behalf_of"] == "jfc" and e("INC3")["state"] == "requested", e("INC3")
assert e("INC4")["basis"] == "10.3" and e("INC4")["on_behalf_of"] == "cloudco", e("INC4")
assert e("INC5")["route"] == "pre_request" and e("INC5")["requested_by"] is None, e("INC5")
assert e("INC5")["state"] == "dispatched", e("INC5")
assert all(i["findings"] == 0 for i in o), o
'
ok c status
assert_not_out "$(echo "$INC1" | cut -c1-12)"
for i in "$INC2" "$INC3" "$INC4" "$INC5"; do
	assert_out "$(echo "$i" | cut -c1-12)"
done
ok c incident show "$INC1"
assert_out "closed"
assert_out "findings: 0"
ok c incident show --json "$INC1"
json_check '
types = [t["type"] for t in o["timeline"]]
assert types == ["request", "dispatch", "activity", "report", "consent", "report", "opinion",
                 "closure"], types
assert all(t["status"] == "valid" for t in o["timeline"]), o["timeline"]
'
ok c incident show --json "$INC2"
json_check '
types = [t["type"] for t in o["timeline"]]
assert types == ["request", "dispatch", "participation", "activity"], types
assert o["timeline"][1]["author"] == "nisc/deputy", o["timeline"]
'
ok c findings
assert_out "0 findings"

# Every command says how it is used, with an example.
for cmd in "agency add" nominate appoint "trainee register" withdraw "training apply" \
	participate activity share council-report; do
	ok c $cmd --help
	assert_out "usage: cymat $cmd"
	assert_out "Example"
done
expect 2 c agency register --id x
assert_err "subcommand"
ok c verify --no-cache
exit 0
