/*
 * cymat-bench's shared parts (bench.h): helpers, the people and the record
 * generator, children for measured steps, the table.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/record.h"
#include "ledger/sshsig.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"

#include "bench.h"

/* --- small helpers ----------------------------------------------------- */

void fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("cymat-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The library's last message, for fatal(). */
const char *lib_error(void)
{
	const ledger_error *e = ledger_error_last();

	return e && e->message ? e->message : "unknown error";
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread (the profile) or of the whole process (verification's workers too). */
double cpu_now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fatal("out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("out of memory");
	return s;
}

/* Directories to remove when the parent exits, also on failure. */
pid_t cleanup_owner;
char *cleanup_dirs[2];

void cleanup(void)
{
	if (getpid() != cleanup_owner)
		return; /* a child leaves them to the parent */
	for (int i = 0; i < 2; i++) {
		if (cleanup_dirs[i]) {
			char *cmd = xasprintf("rm -rf '%s'", cleanup_dirs[i]);

			if (system(cmd) != 0)
				fprintf(stderr, "cymat-bench: cannot remove \"%s\"\n", cleanup_dirs[i]);
			free(cmd);
		}
	}
}

long cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? n : 1;
}
/* --- who signs ----------------------------------------------------------- */

static const char *const agencies[NAGENCIES] = { "mof", "moe", "mhlw", "meti", "mlit" };
/* The agency's own member who joins dispatches, or -1.  ITO signs only through `cymat append`. */
static const int agency_member[NAGENCIES] = { SATO, -1, KATO, -1, -1 };

const struct person people[NPEOPLE] = {
	{ "nisc/director", "director", -1, "内閣サイバーセキュリティセンター長", "山田 一郎", "Ichiro Yamada" },
	{ "nisc/deputy", "deputy", -1, "副センター長", "佐々木 花子", "Hanako Sasaki" },
	{ "nisc/manager", "manager", DIRECTOR, "CYMAT 総括", "高橋 健", "Ken Takahashi" },
	{ "nisc/fl1", "field_leader", MANAGER, NULL, "伊藤 誠", "Makoto Ito" },
	{ "nisc/fl2", "field_leader", MANAGER, NULL, "渡辺 愛", "Ai Watanabe" },
	{ "nisc/tanaka", "member", MANAGER, NULL, "田中 翔", "Sho Tanaka" },
	{ "nisc/node", "node", MANAGER, NULL, NULL, NULL },
	{ "mof/ciso", "ciso", MANAGER, "最高情報セキュリティ責任者", NULL, NULL },
	{ "mof/csirt", "csirt", CISO(0), NULL, NULL, NULL },
	{ "moe/ciso", "ciso", MANAGER, "最高情報セキュリティ責任者", NULL, NULL },
	{ "moe/csirt", "csirt", CISO(1), NULL, NULL, NULL },
	{ "mhlw/ciso", "ciso", MANAGER, "最高情報セキュリティ責任者", NULL, NULL },
	{ "mhlw/csirt", "csirt", CISO(2), NULL, NULL, NULL },
	{ "meti/ciso", "ciso", MANAGER, "最高情報セキュリティ責任者", NULL, NULL },
	{ "meti/csirt", "csirt", CISO(3), NULL, NULL, NULL },
	{ "mlit/ciso", "ciso", MANAGER, "最高情報セキュリティ責任者", NULL, NULL },
	{ "mlit/csirt", "csirt", CISO(4), NULL, NULL, NULL },
	{ "mof/sato", "member", CISO(0), NULL, "佐藤 美咲", "Misaki Sato" },
	{ "mhlw/kato", "member", CISO(2), NULL, "加藤 大輔", "Daisuke Kato" },
	{ "meti/ito", "member", CISO(3), NULL, "伊東 直樹", "Naoki Ito" },
};

/* "W/keys/nisc.director.key" */
char *key_path(const char *work, int who)
{
	char *path = xasprintf("%s/keys/%s.key", work, people[who].principal);

	*strrchr(path, '/') = '.';
	return path;
}
/* --- the record generator ----------------------------------------------- */

static uint64_t rnd(gen *g)
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 2685821657736338717ULL;
}

static unsigned int pick(gen *g, unsigned int n)
{
	return (unsigned int)(rnd(g) % n);
}

/* Base64 of n pseudo-random bytes as a JSON string (new reference). */
static json_t *random_b64(gen *g, size_t n)
{
	uint8_t buf[2048];
	char *text = NULL;
	json_t *s;

	if (n > sizeof(buf))
		n = sizeof(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)rnd(g);
	if (ledger_base64_encode(&text, buf, n) < 0)
		fatal("base64: %s", lib_error());
	s = json_string(text);
	free(text);
	return s;
}

/* A `sealed` member for recipient `to`: shaped like the real thing, random bytes inside. */
static json_t *sealed(gen *g, int to, size_t ct_len)
{
	return json_pack("{s:s, s:[{s:s, s:o, s:o}], s:o, s:o}", "alg",
	                 "X25519-HKDF-SHA256-A256GCM", "recipients", "kid", g->s[to].kid, "epk",
	                 random_b64(g, 32), "key", random_b64(g, 48), "iv", random_b64(g, 12), "ct",
	                 random_b64(g, ct_len));
}

static void queue_push(gen *g, ledger_record *rec)
{
	if (g->qlen == g->qcap) {
		size_t cap = g->qcap ? 2 * g->qcap : 64;
		ledger_record **bigger = realloc(g->queue, cap * sizeof(*bigger));

		if (!bigger)
			fatal("out of memory");
		g->queue = bigger;
		g->qcap = cap;
	}
	g->queue[g->qlen++] = rec;
}

/*
 * Make `who`'s next record and queue it; body, refs and sealed are stolen.
 * The id is copied to id_out when not NULL.
 */
void make(gen *g, char *id_out, int who, const char *type, json_t *body, json_t *refs,
                 const char *incident, const char *class_, json_t *sealed_member)
{
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	signer *s = &g->s[who];
	ledger_record *rec = NULL;
	char when[21];
	double t0 = now();

	if (!body)
		fatal("cannot build a %s body", type);
	ledger_time_format(when, g->when);
	g->when += 20 + pick(g, 21);
	f.type = type;
	f.author = people[who].principal;
	f.seq = s->seq + 1;
	f.prev = s->prev[0] ? s->prev : NULL;
	f.time = when;
	f.refs = refs;
	f.incident = incident;
	f.class_ = class_;
	f.body = body;
	f.sealed = sealed_member;
	if (ledger_record_create(&rec, &f, s->key) < 0)
		fatal("%s record by \"%s\": %s", type, people[who].principal, lib_error());
	s->seq = rec->seq;
	memcpy(s->prev, rec->id, sizeof(s->prev));
	if (id_out)
		memcpy(id_out, rec->id, LEDGER_HEX_ID_LEN + 1);
	json_decref(body);
	json_decref(refs);
	json_decref(sealed_member);
	queue_push(g, rec);
	g->t_create += now() - t0;
}

static const char *const incident_kinds[] = {
	"不正アクセスの疑い", "マルウェア感染の疑い", "ウェブサイトの改ざん",
	"DDoS 攻撃によるサービス停止", "標的型メールの受信と添付ファイルの実行",
	"情報漏えいの可能性", "ランサムウェアによるファイルの暗号化", "C2 サーバとの不審な通信",
};
static const char *const systems[] = {
	"会計システム", "人事給与システム", "電子申請システム", "公開ウェブサーバ",
	"メールサーバ", "職員用端末", "ファイルサーバ", "統合認証基盤",
};
static const char *const activity_texts[] = {
	"ログを収集し事実関係を確認した",
	"感染が疑われる端末の隔離とディスクイメージの保全を助言した",
	"侵入経路の調査のためプロキシログとファイアウォールログを分析した",
	"復旧手順とパスワード変更の範囲について技術的な支援を行った",
	"同種の攻撃を受けている他の支援対象機関にも注意喚起を行った",
	"統括責任者の特命によりクラウド事業者との調整を行った",
};
static const char *const status_texts[] = {
	"被害範囲を調査中。現時点で外部への情報流出は確認されていない。",
	"影響を受けたサーバを特定し、ネットワークから切り離した。",
	"封じ込めを完了。バックアップからの復元作業を実施中。",
	"復旧作業が完了し、通常業務に復帰した。監視を強化して継続観察中。",
};
static const char *const normal_texts[] = {
	"各府省庁の CSIRT との連絡体制を確認した",
	"脆弱性情報と攻撃動向を取りまとめ関係機関に提供した",
	"標的型攻撃を想定した机上演習を実施した",
	"ログ分析の手法について勉強会を開催した",
	"統括責任者の特命により調査を行った",
};

/* One incident from request to closure-time reports, plus some normal-time work. */
static void gen_incident(gen *g)
{
	unsigned int n = g->incidents++;
	unsigned int a = n % NAGENCIES, other = (a + 1 + n / NAGENCIES % (NAGENCIES - 1)) % NAGENCIES;
	const char *agency = agencies[a];
	int member = agency_member[a], fl = n % 2 ? FL2 : FL1, emergency = n % 5 == 4;
	unsigned int rounds = 3 + n % 4, kind = pick(g, 8);
	char inc[65], consent[65], dispatch[65], report[65] = "", c15[65], occurred[21], until[21];
	char summary[512], commit[41];
	json_t *body, *team;

	/* The request opens the incident. */
	ledger_time_format(occurred, g->when - 3600 * (int64_t)(1 + pick(g, 12)));
	snprintf(summary, sizeof(summary), "%s。%sで異常を検知した（受付番号 %u）。",
	         incident_kinds[kind], systems[n % 8], n + 1);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s,s], s:s}", "basis", "10.1", "route",
	                 emergency ? "emergency" : "normal", "addressed_to",
	                 emergency ? "manager" : "director", "affected", agency, "summary", summary,
	                 "systems", systems[n % 8], systems[(n + 3) % 8], "occurred_at", occurred);
	if (emergency)
		json_object_set_new(body, "emergency_reason",
		                    json_string("夜間のため CISO に連絡がつかず、CSIRT から直接要請する"));
	make(g, inc, emergency ? CSIRT(a) : CISO(a), "request", body, NULL, NULL, "c2",
	     sealed(g, DIRECTOR, 200 + pick(g, 400)));

	make(g, consent, CISO(a), "consent",
	     json_pack("{s:s, s:{s:[s]}}", "purpose", "gsoc_substitute", "scope", "incidents", inc),
	     json_pack("[s]", inc), NULL, "c1", NULL);

	team = json_pack("{s:[s], s:[s]}", "field_leaders", people[fl].principal, "members",
	                 people[TANAKA].principal);
	if (member >= 0)
		json_array_append_new(json_object_get(team, "members"),
		                      json_string(people[member].principal));
	make(g, dispatch, DIRECTOR, "dispatch",
	     json_pack("{s:s, s:s, s:s, s:o, s:s}", "basis", "11.1", "request", inc, "affected",
	               agency, "team", team, "summary", "要請を受け CYMAT を派遣する"),
	     json_pack("[s]", inc), inc, "c1", NULL);

	if (n % 3 == 0)
		make(g, NULL, MANAGER, "participation",
		     json_pack("{s:s, s:s}", "principal", people[TANAKA].principal, "emergency_reason",
		               "夜間で要員が不足しているため"),
		     json_pack("[s]", dispatch), inc, "c1", NULL);

	for (unsigned int k = 1; k <= rounds; k++) {
		static const char *const kinds[] = { "12.1a", "12.1b", "12.1c" };
		int actor = k % 3 == 0 && member >= 0 ? member : k % 2 ? fl : TANAKA;
		const char *status = k == 1 ? "investigating" : k == rounds ? "recovered" : "ongoing";
		json_t *refs;

		body = json_pack("{s:s, s:s, s:[s,s]}", "kind", kinds[k % 3], "summary",
		                 activity_texts[(n + k) % 6], "participants", people[fl].principal,
		                 people[TANAKA].principal);
		if (k % 3 == 1)
			json_object_set_new(body, "advice_to", json_pack("[s]", agencies[other]));
		make(g, NULL, actor, "activity", body, json_pack("[s]", dispatch), inc, "c1", NULL);

		refs = report[0] ? json_pack("[s,s,s]", consent, inc, report)
		                 : json_pack("[s,s]", consent, inc);
		make(g, report, CSIRT(a), "report",
		     json_pack("{s:I, s:s, s:s, s:b, s:b, s:s}", "number", (json_int_t)k, "status",
		               status, "summary", status_texts[k == rounds ? 3 : (k - 1) % 3],
		               "gsoc_substitute", 1, "cabinet_emergency", 0, "consent", consent),
		     refs, inc, "c2", sealed(g, DIRECTOR, 300 + pick(g, 500)));
	}

	if (n % 2 == 0) {
		ledger_time_format(until, g->when + 180 * 86400);
		make(g, c15, CISO(a), "consent",
		     json_pack("{s:s, s:{s:[s], s:[s]}, s:[s], s:s}", "purpose", "15a", "scope",
		               "incidents", inc, "classes", "c2", "recipients", agencies[other],
		               "until", until),
		     json_pack("[s]", inc), NULL, "c1", NULL);
		make(g, NULL, MANAGER, "share",
		     json_pack("{s:[s], s:s, s:s, s:s}", "sources", report, "recipient",
		               agencies[other], "purpose", "15a", "consent", c15),
		     json_pack("[s,s]", c15, report), inc, "c2", NULL);
	}

	for (unsigned int k = 0; k < 2; k++) {
		static const char *const kinds[] = { "12.2a", "12.2b", "12.2c", "12.2d", "12.2e" };
		unsigned int which = (n + k) % 5;

		make(g, NULL, k ? TANAKA : fl, "activity",
		     json_pack("{s:s, s:s, s:[s]}", "kind", kinds[which], "summary",
		               normal_texts[which], "participants", people[TANAKA].principal),
		     NULL, NULL, "c1", NULL);
	}

	for (int i = 0; i < 40; i++)
		commit[i] = "0123456789abcdef"[pick(g, 16)];
	commit[40] = '\0';
	make(g, NULL, NODE, "receipt",
	     json_pack("{s:s, s:s, s:[s,s,s,s], s:{s:i, s:i, s:i}}", "inbox", agency, "commit",
	               commit, "accepted", inc, consent, dispatch, report, "findings", "errors", 0,
	               "warnings", 0, "pending", 0),
	     NULL, NULL, "c1", NULL);
}

ledger_record *next_record(gen *g)
{
	if (g->qhead == g->qlen) {
		g->qhead = g->qlen = 0;
		gen_incident(g);
	}
	return g->queue[g->qhead++];
}

void gen_release(gen *g)
{
	for (size_t i = g->qhead; i < g->qlen; i++)
		ledger_record_free(g->queue[i]);
	free(g->queue);
	for (int i = 0; i < NPEOPLE; i++)
		ledger_key_free(g->s[i].key);
	memset(g, 0, sizeof(*g));
}

static int commit_sign(char **out, const char *buf, size_t len, void *payload)
{
	return ledger_sshsig_sign(out, payload, "git", (const uint8_t *)buf, len);
}

/* Append records as one commit signed by `who`; frees the records. */
void append_records(gen *g, ledger_repo *repo, ledger_record **recs, size_t n, int who)
{
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file *files = xcalloc(n, sizeof(*files));
	char (*paths)[LEDGER_RECORD_PATH_LEN + 1] = xcalloc(n, sizeof(*paths));
	char commit[LEDGER_OID_HEX_LEN + 1], *msg, *email, *p;
	int same = 1;
	double t0 = now();

	for (size_t i = 1; i < n; i++)
		same &= strcmp(recs[i]->type, recs[0]->type) == 0;
	msg = same ? xasprintf("%s: %zu records\n\n", recs[0]->type, n)
	           : xasprintf("batch: %zu records\n\n", n);
	p = realloc(msg, strlen(msg) + n * (sizeof("Record: \n") + LEDGER_HEX_ID_LEN) + 1);
	if (!p)
		fatal("out of memory");
	msg = p;
	p += strlen(msg);
	for (size_t i = 0; i < n; i++) {
		char *data;
		size_t len;

		if (ledger_record_envelope(&data, &len, recs[i]) < 0)
			fatal("envelope: %s", lib_error());
		ledger_record_path(paths[i], recs[i]->id);
		files[i] = (ledger_file){ paths[i], data, len };
		g->bytes += len;
		p += sprintf(p, "Record: %s\n", recs[i]->id);
	}
	email = xasprintf("%s@cymat.invalid", g->s[who].kid);
	opts.message = msg;
	opts.name = people[who].principal;
	opts.email = email;
	opts.time = g->when;
	opts.sign = commit_sign;
	opts.sign_payload = g->s[who].key;
	g->t_create += now() - t0;
	t0 = now();
	if (ledger_repo_append(commit, repo, files, n, &opts) < 0)
		fatal("append: %s", lib_error());
	g->t_append += now() - t0;
	g->commits++;
	for (size_t i = 0; i < n; i++) {
		free((void *)files[i].data);
		ledger_record_free(recs[i]);
	}
	free(files);
	free(paths);
	free(msg);
	free(email);
}

/* Hand out `count` records in commits of `batch`. */
void append_stream(gen *g, ledger_repo *repo, size_t count, size_t batch)
{
	ledger_record **recs = xcalloc(batch, sizeof(*recs));

	for (size_t done = 0; done < count;) {
		size_t n = count - done < batch ? count - done : batch;

		for (size_t i = 0; i < n; i++)
			recs[i] = next_record(g);
		append_records(g, repo, recs, n, NODE);
		done += n;
	}
	free(recs);
}

static json_t *principal_entry(const gen *g, int who)
{
	const struct person *p = &people[who];
	ledger_key *x = NULL;
	uint8_t pub[32];
	char *ed = NULL, *xb = NULL;
	json_t *e, *attrs;

	if (ledger_key_generate(&x, LEDGER_KEY_X25519) < 0)
		fatal("x25519 key: %s", lib_error());
	ledger_key_public(pub, x);
	ledger_key_free(x);
	if (ledger_base64_encode(&xb, pub, 32) < 0 ||
	    ledger_base64_encode(&ed, g->s[who].pub, 32) < 0)
		fatal("base64: %s", lib_error());
	attrs = json_pack("{s:b, s:b}", "full_time_civil_servant", 1, "nisc_resident",
	                  strncmp(p->principal, "nisc/", 5) == 0);
	if (p->title)
		json_object_set_new(attrs, "title", json_string(p->title));
	e = json_pack("{s:s, s:s, s:s, s:[s], s:o}", "principal", p->principal, "ed25519", ed,
	              "x25519", xb, "roles", p->role, "attributes", attrs);
	if (p->ja)
		json_object_set_new(e, "name", json_pack("{s:s, s:s}", "ja", p->ja, "en", p->en));
	free(ed);
	free(xb);
	return e;
}

void signer_set_key(signer *s, ledger_key *key)
{
	s->key = key;
	ledger_key_public(s->pub, key);
	ledger_key_id(s->kid, s->pub);
}

/*
 * The roster the rules need (DOMAIN.md sections 2 and 5-8): the agencies,
 * each with its CSIRT as a member candidate; the field leaders; NISC's
 * member; the agencies' members appointed from their nominations.
 */
static void gen_roster(gen *g)
{
	char from[21], nom[65];

	for (int a = 0; a < NAGENCIES; a++)
		make(g, NULL, MANAGER, "agency",
		     json_pack("{s:s, s:{s:s, s:s}, s:s}", "id", agencies[a], "name", "ja",
		               agencies[a], "en", agencies[a], "kind", "government"),
		     NULL, NULL, "c1", NULL);
	for (int who = FL1; who <= TANAKA; who++) {
		ledger_time_format(from, g->when);
		make(g, NULL, DIRECTOR, "appointment",
		     json_pack("{s:s, s:s, s:s}", "principal", people[who].principal, "role",
		               who == TANAKA ? "member" : "field_leader", "from", from),
		     NULL, NULL, "c1", NULL);
	}
	for (int a = 0; a < NAGENCIES; a++) {
		make(g, NULL, CISO(a), "nomination",
		     json_pack("{s:s, s:s}", "candidate", people[CSIRT(a)].principal, "agency",
		               agencies[a]),
		     NULL, NULL, "c1", NULL);
		if (agency_member[a] < 0)
			continue;
		make(g, nom, CISO(a), "nomination",
		     json_pack("{s:s, s:s}", "candidate", people[agency_member[a]].principal,
		               "agency", agencies[a]),
		     NULL, NULL, "c1", NULL);
		ledger_time_format(from, g->when);
		make(g, NULL, DIRECTOR, "appointment",
		     json_pack("{s:s, s:s, s:s, s:s}", "principal", people[agency_member[a]].principal,
		               "role", "member", "from", from, "nomination", nom),
		     json_pack("[s]", nom), NULL, "c1", NULL);
	}
}

/* Step 1: keys, root, principals, the roster, then the records in batches. */
int phase_generate(const bench *b, void *out)
{
	gen_result *res = out;
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_record *root = NULL, *principals[2 * NPEOPLE];
	ledger_repo *repo = NULL;
	ledger_file files[2];
	char path[LEDGER_RECORD_PATH_LEN + 1], ledger_text[128], *data, *email, *dir;
	size_t len, nprincipals = 0;
	gen g;
	double t0 = now();

	memset(&g, 0, sizeof(g));
	g.rng = 0x9e3779b97f4a7c15ULL;
	dir = xasprintf("%s/keys", b->work);
	if (mkdir(dir, 0700) < 0)
		fatal("cannot create \"%s\": %s", dir, strerror(errno));
	free(dir);
	for (int i = 0; i < NPEOPLE; i++) {
		ledger_key *key = NULL;
		char *kp = key_path(b->work, i);

		if (ledger_key_generate(&key, LEDGER_KEY_ED25519) < 0 || ledger_key_save(key, kp) < 0)
			fatal("key \"%s\": %s", kp, lib_error());
		signer_set_key(&g.s[i], key);
		free(kp);
	}
	if (ledger_time_parse(&g.when, "2026-01-01T00:00:00Z") < 0)
		fatal("time: %s", lib_error());
	make(&g, NULL, DIRECTOR, "root",
	     json_pack("{s:s, s:o, s:o}", "ledger", "cymat-bench", "director",
	               principal_entry(&g, DIRECTOR), "deputy", principal_entry(&g, DEPUTY)),
	     NULL, NULL, "c1", NULL);
	root = next_record(&g);
	if (ledger_record_envelope(&data, &len, root) < 0)
		fatal("envelope: %s", lib_error());
	ledger_record_path(path, root->id);
	snprintf(ledger_text, sizeof(ledger_text), "{\"format\":\"cymat-ledger/1\",\"root\":\"%s\"}",
	         root->id);
	files[0] = (ledger_file){ "LEDGER", ledger_text, strlen(ledger_text) };
	files[1] = (ledger_file){ path, data, len };
	email = xasprintf("%s@cymat.invalid", g.s[DIRECTOR].kid);
	opts.message = "root: genesis of ledger \"cymat-bench\"\n\n";
	opts.name = people[DIRECTOR].principal;
	opts.email = email;
	opts.time = g.when;
	opts.sign = commit_sign;
	opts.sign_payload = g.s[DIRECTOR].key;
	if (ledger_repo_init(&repo, b->gen_repo, files, 2, &opts) < 0 ||
	    ledger_repo_config_set(repo, "cymat.root", root->id) < 0)
		fatal("init \"%s\": %s", b->gen_repo, lib_error());
	free(data);
	free(email);
	ledger_record_free(root);

	/* Everyone else, in binding order: each binder is bound before it binds. */
	for (int i = 0; i < NPEOPLE; i++)
		if (people[i].binder >= 0)
			make(&g, NULL, people[i].binder, "principal", principal_entry(&g, i), NULL, NULL,
			     "c1", NULL);
	while (g.qhead < g.qlen)
		principals[nprincipals++] = next_record(&g);
	append_records(&g, repo, principals, nprincipals, DIRECTOR);
	gen_roster(&g);
	nprincipals = 0;
	while (g.qhead < g.qlen)
		principals[nprincipals++] = next_record(&g);
	append_records(&g, repo, principals, nprincipals, MANAGER);

	g.t_create = g.t_append = 0;
	g.bytes = 0;
	g.commits = 0;
	if (ledger_time_parse(&g.when, "2026-01-02T00:00:00Z") < 0)
		fatal("time: %s", lib_error());
	t0 = now();
	append_stream(&g, repo, b->records, b->batch);
	res->total = now() - t0;
	res->create = g.t_create;
	res->append = g.t_append;
	res->records = b->records;
	res->bytes = g.bytes;
	res->commits = g.commits;
	res->next_time = g.when + 86400;
	ledger_repo_free(repo);
	gen_release(&g);
	return 0;
}
/* Wall seconds of one ledger_state_load; its CPU seconds (all threads) into *cpu. */
double timed_load(ledger_state **out, ledger_repo *repo, int use_cache,
                         unsigned int threads, double *cpu)
{
	ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
	double t0 = now(), c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);

	opts.use_cache = use_cache;
	opts.threads = threads;
	if (ledger_state_load(out, repo, &opts) < 0)
		fatal("verify: %s", lib_error());
	if (cpu)
		*cpu = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return now() - t0;
}

/* --- running children ---------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static size_t read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Run fn in a forked child; its result comes back into out, its rusage into ru. */
void run_phase(const char *what, const bench *b, int (*fn)(const bench *, void *),
                      void *out, size_t len, struct rusage *ru)
{
	int fds[2], status;
	size_t got;
	pid_t pid;

	if (pipe(fds) < 0)
		fatal("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		int rc;

		close(fds[0]);
		memset(out, 0, len);
		rc = fn(b, out);
		/* exit, not _exit: the sanitizers' leak check runs at exit; cleanup() skips children */
		exit(rc == 0 && write_all(fds[1], out, len) == 0 ? 0 : 1);
	}
	close(fds[1]);
	got = read_all(fds[0], out, len);
	close(fds[0]);
	if (wait4(pid, &status, 0, ru) < 0)
		fatal("wait: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != len)
		fatal("%s failed", what);
}

/* Start a command with stdout and stderr appended to log; its pid. */
pid_t spawn_logged(char *const argv[], const char *log)
{
	pid_t pid;
	int fd;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Run a command with stdout and stderr to log; returns its exit status (-1: killed). */
int run_command(char *const argv[], const char *log, struct rusage *ru)
{
	pid_t pid = spawn_logged(argv, log);
	int status;

	if (wait4(pid, &status, 0, ru) < 0)
		fatal("wait: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* --- the table ------------------------------------------------------------ */

void add_row(table *t, const char *name, const char *target, int verdict,
                    const char *fmt, ...)
{
	row *r;
	va_list ap;

	if (t->count == sizeof(t->rows) / sizeof(t->rows[0]))
		return;
	r = &t->rows[t->count++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->target, sizeof(r->target), "%s", target ? target : "");
	r->verdict = verdict;
	va_start(ap, fmt);
	vsnprintf(r->value, sizeof(r->value), fmt, ap);
	va_end(ap);
}

static const char *verdict_name(int v)
{
	return v < 0 ? "" : v ? "pass" : "FAIL";
}

void print_table(const table *t, const char *title, const char *const head[4])
{
	int w0 = (int)strlen(head[0]), w1 = (int)strlen(head[1]), w2 = (int)strlen(head[2]);

	for (size_t i = 0; i < t->count; i++) {
		int n0 = (int)strlen(t->rows[i].name), n1 = (int)strlen(t->rows[i].value),
		    n2 = (int)strlen(t->rows[i].target);

		w0 = n0 > w0 ? n0 : w0;
		w1 = n1 > w1 ? n1 : w1;
		w2 = n2 > w2 ? n2 : w2;
	}
	printf("\n%s\n", title);
	printf("%-*s | %-*s | %-*s | %s\n", w0, head[0], w1, head[1], w2, head[2], head[3]);
	for (int i = 0; i < w0 + w1 + w2 + 17; i++)
		putchar('-');
	putchar('\n');
	for (size_t i = 0; i < t->count; i++)
		printf("%-*s | %-*s | %-*s | %s\n", w0, t->rows[i].name, w1, t->rows[i].value, w2,
		       t->rows[i].target, verdict_name(t->rows[i].verdict));
}

json_t *table_json(const table *t)
{
	json_t *a = json_array();

	for (size_t i = 0; i < t->count; i++) {
		json_t *o = json_pack("{s:s, s:s}", "measurement", t->rows[i].name, "value",
		                      t->rows[i].value);

		if (t->rows[i].target[0])
			json_object_set_new(o, "target", json_string(t->rows[i].target));
		if (t->rows[i].verdict >= 0)
			json_object_set_new(o, "pass", json_boolean(t->rows[i].verdict));
		json_array_append_new(a, o);
	}
	return a;
}

/* The 1-minute load average: other work on the machine skews every figure. */
double load_average(void)
{
	double v = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

double cpu_of(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

double mib(const struct rusage *ru)
{
	return (double)ru->ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* What the files under `dir` take on disk (allocated blocks, as du counts), in MiB. */
double disk_mib(const char *dir)
{
	struct dirent *de;
	struct stat st;
	double total = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *path;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0)
			total += S_ISDIR(st.st_mode) ? disk_mib(path) :
			         (double)st.st_blocks * 512.0 / (1024.0 * 1024.0);
		free(path);
	}
	closedir(d);
	return total;
}

void progress(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("cymat-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

size_t parse_count(const char *text, const char *opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v == 0 || text[0] == '-')
		fatal("%s: not a positive number: \"%s\"", opt, text);
	return (size_t)v;
}
