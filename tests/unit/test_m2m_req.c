/* test_m2m_req: the token request parser (gateway/m2m_req.c), on its own:
 * form and JSON bodies, HTTP Basic, media types, repeated parameters,
 * percent-decoding, and what an error leaves behind (nothing but why). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2m_req.h"
#include "tap.h"

#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"

static m2m_params_t p;

/* An error must leave no parameter behind, only (for MALFORMED) why. */
static int empty_but_why(void) {
  for (int k = 0; k < M2M_P_N; k++)
    if (p.v[k] || p.len[k]) return 0;
  return !p.basic && !p.basic_id && !p.basic_secret && !p.basic_id_len && !p.basic_secret_len;
}

static int parse_n(const char *body, size_t n, const char *ct, const char *auth) {
  m2m_params_free(&p);
  return m2m_req_parse(body, n, ct, auth, &p);
}

static int parse(const char *body, const char *ct, const char *auth) {
  return parse_n(body, body ? strlen(body) : 0, ct, auth);
}

/* A MALFORMED answer with this description and nothing else set. */
static void check_malformed(int rc, const char *why, const char *what) {
  char msg[300];
  snprintf(msg, sizeof msg, "%s: MALFORMED", what);
  CHECK_INT(rc, M2M_REQ_MALFORMED, msg);
  snprintf(msg, sizeof msg, "%s: why", what);
  CHECK_STR(p.why, why, msg);
  snprintf(msg, sizeof msg, "%s: no parameter left", what);
  CHECK(empty_but_why(), msg);
}

static const char *bad_form = "malformed application/x-www-form-urlencoded body";
static const char *bad_basic = "malformed HTTP Basic credentials";

static void test_form(void) {
  int rc = parse("grant_type=client_credentials&client_id=demo&client_secret=s3cr%2Bt+x%21", FORM,
                 NULL);
  CHECK_INT(rc, M2M_REQ_OK, "form: OK");
  CHECK_STR(p.v[M2M_P_GRANT], "client_credentials", "form: grant_type");
  CHECK_STR(p.v[M2M_P_ID], "demo", "form: client_id");
  CHECK_STR(p.v[M2M_P_SECRET], "s3cr+t x!", "form: client_secret: %2B is '+', '+' a space");
  CHECK_INT(p.len[M2M_P_SECRET], 9, "form: client_secret length");
  CHECK(p.v[M2M_P_SCOPE] == NULL && p.len[M2M_P_SCOPE] == 0, "form: scope absent");
  CHECK(!p.basic && !p.basic_id && !p.basic_secret, "form: no Basic");
  CHECK(p.why == NULL, "form: no why on OK");

  rc = parse("&&scope=a+b%20c&&other=%zz&grant_type&", FORM, NULL);
  CHECK_INT(rc, M2M_REQ_OK, "form: empty pairs skipped, an unknown value is not decoded");
  CHECK_STR(p.v[M2M_P_SCOPE], "a b c", "form: scope decoded");
  CHECK_STR(p.v[M2M_P_GRANT], "", "form: a name without '=' has the value \"\"");
  CHECK(p.v[M2M_P_GRANT] && p.len[M2M_P_GRANT] == 0, "form: ... of length 0");
  CHECK(p.v[M2M_P_ID] == NULL, "form: client_id absent");

  rc = parse("client%5Fid=%64%45mo&client_secret=%e2%82%ac", FORM, NULL);
  CHECK_INT(rc, M2M_REQ_OK, "form: escaped name, both hex cases");
  CHECK_STR(p.v[M2M_P_ID], "dEmo", "form: %5F in a name is '_'");
  CHECK_STR(p.v[M2M_P_SECRET], "\xe2\x82\xac", "form: UTF-8 bytes kept as they are");

  rc = parse("client_id=a=b", FORM, NULL);
  CHECK_INT(rc, M2M_REQ_OK, "form: a second '=' belongs to the value");
  CHECK_STR(p.v[M2M_P_ID], "a=b", "form: value a=b");

  rc = parse("Client_ID=x&grant_type=y", FORM, NULL);
  CHECK_INT(rc, M2M_REQ_OK, "form: names are case-sensitive");
  CHECK(p.v[M2M_P_ID] == NULL, "form: Client_ID is not client_id");

  rc = parse("", FORM, NULL);
  CHECK_INT(rc, M2M_REQ_OK, "form: an empty body is fine");
  CHECK(empty_but_why() && !p.why, "form: ... and gives nothing");
}

static void test_form_bad(void) {
  check_malformed(parse("scope=a&scope=b", FORM, NULL), "parameter scope is repeated",
                  "form: scope twice");
  check_malformed(parse("grant_type=a&client_id=x&grant_type=a", FORM, NULL),
                  "parameter grant_type is repeated", "form: grant_type twice");
  check_malformed(parse("client_id=x&client%5fid=x", FORM, NULL),
                  "parameter client_id is repeated", "form: client_id twice, once escaped");
  check_malformed(parse("client_secret&client_secret=", FORM, NULL),
                  "parameter client_secret is repeated", "form: client_secret twice, both empty");
  check_malformed(parse("client_id=%", FORM, NULL), bad_form, "form: lone %");
  check_malformed(parse("client_id=%4", FORM, NULL), bad_form, "form: %4 at the end");
  check_malformed(parse("client_id=%4g", FORM, NULL), bad_form, "form: %4g");
  check_malformed(parse("client_id=%00", FORM, NULL), bad_form, "form: %00 is refused");
  check_malformed(parse("sc%zzope=a", FORM, NULL), bad_form, "form: a bad escape in any name");
  check_malformed(parse_n("client_id=a\0b", 13, FORM, NULL), bad_form, "form: a raw NUL");
  /* The error is the same whatever came before it: nothing leaks out. */
  check_malformed(parse("client_id=demo&client_secret=s&scope=%", FORM, NULL), bad_form,
                  "form: parameters parsed before an error are dropped");
}

static void test_json(void) {
  int rc = parse("{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                 "\"client_secret\":\"s\\u00e9cr+t\",\"scope\":\"a b\",\"extra\":[1,{}]}",
                 JSON, NULL);
  CHECK_INT(rc, M2M_REQ_OK, "json: OK");
  CHECK_STR(p.v[M2M_P_GRANT], "client_credentials", "json: grant_type");
  CHECK_STR(p.v[M2M_P_ID], "demo", "json: client_id");
  CHECK_STR(p.v[M2M_P_SECRET], "s\xc3\xa9" "cr+t", "json: \\u escapes decoded, '+' kept");
  CHECK_INT(p.len[M2M_P_SECRET], 7, "json: client_secret length");
  CHECK_STR(p.v[M2M_P_SCOPE], "a b", "json: scope");
  CHECK(!p.basic && p.why == NULL, "json: no Basic, no why");

  rc = parse(" { } ", " Application/JSON ; charset=UTF-8", NULL);
  CHECK_INT(rc, M2M_REQ_OK, "json: media type case-insensitive, parameters ignored");
  CHECK(empty_but_why(), "json: {} gives nothing");

  rc = parse("{\"client_id\":\"\"}", "application/json\t", NULL);
  CHECK_INT(rc, M2M_REQ_OK, "json: trailing tab after the media type");
  CHECK(p.v[M2M_P_ID] && p.len[M2M_P_ID] == 0, "json: an empty string is present, not absent");
}

static void test_json_bad(void) {
  check_malformed(parse("{\"scope\":\"a\",\"scope\":\"b\"}", JSON, NULL),
                  "a parameter is repeated in the JSON body", "json: scope twice");
  check_malformed(parse("{\"other\":1,\"other\":2}", JSON, NULL),
                  "a parameter is repeated in the JSON body", "json: any name twice");
  check_malformed(parse("[\"client_id\"]", JSON, NULL), "the JSON body is not an object",
                  "json: array");
  /* jansson (without JSON_DECODE_ANY) refuses a scalar at the top itself. */
  check_malformed(parse("\"client_id\"", JSON, NULL), "the body is not valid JSON",
                  "json: a string at the top");
  check_malformed(parse("{\"client_id\":", JSON, NULL), "the body is not valid JSON",
                  "json: truncated");
  check_malformed(parse("{} {}", JSON, NULL), "the body is not valid JSON", "json: two values");
  check_malformed(parse("{\"client_id\":\"a\\u0000b\"}", JSON, NULL),
                  "the body is not valid JSON", "json: \\u0000 is refused");
  check_malformed(parse("{\"grant_type\":null}", JSON, NULL), "grant_type must be a string",
                  "json: grant_type null");
  check_malformed(parse("{\"client_id\":5}", JSON, NULL), "client_id must be a string",
                  "json: client_id number");
  check_malformed(parse("{\"client_id\":\"x\",\"client_secret\":[]}", JSON, NULL),
                  "client_secret must be a string", "json: client_secret array");
  check_malformed(parse("{\"scope\":{}}", JSON, NULL), "scope must be a string",
                  "json: scope object");
}

static void test_media_type(void) {
  const char *ct_why =
      "Content-Type must be application/json or application/x-www-form-urlencoded";
  check_malformed(parse("{}", NULL, NULL), ct_why, "media: a body without Content-Type");
  check_malformed(parse("{}", "text/plain", NULL), ct_why, "media: text/plain");
  check_malformed(parse("{}", "application/jsonx", NULL), ct_why, "media: application/jsonx");
  check_malformed(parse("{}", "application/json-patch+json", NULL), ct_why,
                  "media: another JSON type");
  check_malformed(parse("a=b", "multipart/form-data; boundary=x", NULL), ct_why,
                  "media: multipart");
  check_malformed(parse("{}", "", NULL), ct_why, "media: empty Content-Type");
  CHECK_INT(parse(NULL, NULL, NULL), M2M_REQ_OK, "media: no body, no Content-Type: OK");
  CHECK(empty_but_why() && !p.why, "media: ... with nothing");
  CHECK_INT(parse("", "text/plain", NULL), M2M_REQ_OK, "media: an empty body is not read");
}

static void test_basic(void) {
  /* demo:s3cret */
  int rc = parse(NULL, NULL, "Basic ZGVtbzpzM2NyZXQ=");
  CHECK_INT(rc, M2M_REQ_OK, "basic: OK");
  CHECK(p.basic == 1, "basic: basic set");
  CHECK_STR(p.basic_id, "demo", "basic: id");
  CHECK_INT(p.basic_id_len, 4, "basic: id length");
  CHECK_STR(p.basic_secret, "s3cret", "basic: secret");
  CHECK_INT(p.basic_secret_len, 6, "basic: secret length");
  CHECK(p.why == NULL && p.v[M2M_P_ID] == NULL, "basic: no why, no body parameters");

  rc = parse(NULL, NULL, " \tbAsIc \t ZGVtbzpzM2NyZXQ \t");
  CHECK_INT(rc, M2M_REQ_OK, "basic: scheme any case, blanks around, no padding");
  CHECK_STR(p.basic_secret, "s3cret", "basic: same secret");

  /* a+b%3A:x%2By+z:w -> id "a b:" secret "x+y z:w" */
  rc = parse(NULL, NULL, "Basic YStiJTNBOnglMkJ5K3o6dw==");
  CHECK_INT(rc, M2M_REQ_OK, "basic: form-encoded parts");
  CHECK_STR(p.basic_id, "a b:", "basic: id decoded ('+' space, %3A colon)");
  CHECK_STR(p.basic_secret, "x+y z:w", "basic: secret decoded, split at the first ':'");

  /* demo: (empty secret) */
  rc = parse(NULL, NULL, "Basic ZGVtbzo=");
  CHECK_INT(rc, M2M_REQ_OK, "basic: an empty secret is well-formed");
  CHECK(p.basic && p.basic_secret && p.basic_secret_len == 0, "basic: ... and is \"\"");

  /* Basic and a body: both parsed; m2m_token decides whether they agree. */
  rc = parse("grant_type=client_credentials&client_id=demo", FORM, "Basic ZGVtbzpzM2NyZXQ=");
  CHECK_INT(rc, M2M_REQ_OK, "basic + form: OK");
  CHECK(p.basic && p.v[M2M_P_GRANT] && p.v[M2M_P_ID], "basic + form: both kept");
}

static void test_basic_bad(void) {
  check_malformed(parse(NULL, NULL, ""), "empty Authorization header", "basic: empty header");
  check_malformed(parse(NULL, NULL, " \t "), "empty Authorization header", "basic: blank header");
  check_malformed(parse(NULL, NULL, "Basic"), bad_basic, "basic: no credentials");
  check_malformed(parse(NULL, NULL, "Basic  \t"), bad_basic, "basic: blank credentials");
  check_malformed(parse(NULL, NULL, "Basic ZGVt bzpz"), bad_basic, "basic: two tokens");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbzpz!!!"), bad_basic, "basic: not base64");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbzpzM2NyZXQ=="), bad_basic,
                  "basic: wrong padding");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbzpzM"), bad_basic,
                  "basic: a length of 4n+1 is not base64");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbzpz_-"), bad_basic, "basic: base64url alphabet");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbw=="), bad_basic, "basic: no ':'");
  check_malformed(parse(NULL, NULL, "Basic OnM="), bad_basic, "basic: empty id (\":s\")");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbzphJTAwYg=="), bad_basic,
                  "basic: %00 in the secret");
  check_malformed(parse(NULL, NULL, "Basic ZGVtbzphAGI="), bad_basic, "basic: raw NUL in secret");
  check_malformed(parse(NULL, NULL, "Basic ZGUlbW86cw=="), bad_basic, "basic: bad escape in id");

  /* Longer than 4096 characters of credentials. */
  static char big[6 + 4100 + 1];
  memcpy(big, "Basic ", 6);
  memset(big + 6, 'A', 4100);
  big[6 + 4100] = '\0';
  check_malformed(parse(NULL, NULL, big), bad_basic, "basic: over 4096 characters");
  big[6 + 4096] = '\0'; /* exactly 4096 'A's: decodes, but there is no ':' */
  check_malformed(parse(NULL, NULL, big), bad_basic, "basic: 4096 characters, no ':'");

  /* Good Basic, bad body: the Basic credentials do not survive the error. */
  check_malformed(parse("{", JSON, "Basic ZGVtbzpzM2NyZXQ="), "the body is not valid JSON",
                  "basic + bad body: MALFORMED, Basic dropped");
}

static void test_other_scheme(void) {
  int rc = parse(NULL, NULL, "Bearer abc");
  CHECK_INT(rc, M2M_REQ_OTHER_SCHEME, "scheme: Bearer");
  CHECK(empty_but_why() && p.why == NULL, "scheme: nothing set, no why");
  CHECK_INT(parse(NULL, NULL, "Basicx ZGVtbzpz"), M2M_REQ_OTHER_SCHEME, "scheme: Basicx");
  CHECK_INT(parse(NULL, NULL, "Digest username=\"demo\""), M2M_REQ_OTHER_SCHEME,
            "scheme: Digest");
  CHECK_INT(parse("{", JSON, "Bearer x"), M2M_REQ_OTHER_SCHEME,
            "scheme: decided before the body is read");
  CHECK(empty_but_why(), "scheme: ... which is not parsed");
}

static void test_names(void) {
  CHECK_STR(m2m_param_name(M2M_P_GRANT), "grant_type", "names: grant_type");
  CHECK_STR(m2m_param_name(M2M_P_ID), "client_id", "names: client_id");
  CHECK_STR(m2m_param_name(M2M_P_SECRET), "client_secret", "names: client_secret");
  CHECK_STR(m2m_param_name(M2M_P_SCOPE), "scope", "names: scope");
  CHECK(m2m_param_name(M2M_P_N) == NULL && m2m_param_name(-1) == NULL, "names: out of range");
}

int main(void) {
  test_form();
  test_form_bad();
  test_json();
  test_json_bad();
  test_media_type();
  test_basic();
  test_basic_bad();
  test_other_scheme();
  test_names();
  m2m_params_free(&p);
  return TAP_DONE();
}
