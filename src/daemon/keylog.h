/*
 * The debugging key export (riked.conf(5) KEY EXPORT): off by default;
 * when on, riked appends every IKE SA's and Child SA's keys, as they are
 * made, to two files in one directory, in Wireshark's formats:
 *   DIR/ikev2_decryption_table  the ikev2_decryption_table UAT, one row per
 *                               IKE SA (SPIi,SPIr,SK_ei,SK_er,"cipher",
 *                               SK_ai,SK_ar,"integrity"); rikectl decode
 *                               --keys reads the same file;
 *   DIR/esp_sa                  the esp_sa UAT, one row per ESP SA
 *                               ("IPv4","src","dst","0xSPI","cipher",
 *                               "0xkey","integrity","0xkey").
 * Pointing Wireshark's configuration directory at DIR (or -o uat:...)
 * decrypts riked's own IKE and ESP. Anyone who can read the files can
 * decrypt the traffic: they are created with mode 0600 and riked says so
 * in its log at start and every KEYLOG_WARN_SEC while the export is on.
 */
#ifndef RIKE_DAEMON_KEYLOG_H
#define RIKE_DAEMON_KEYLOG_H

#include <stddef.h>

struct event_base;
struct ike_keys_info;
struct ike_child_info;
struct keylog;

#define KEYLOG_WARN_SEC 600
#define KEYLOG_IKE_FILE "ikev2_decryption_table"
#define KEYLOG_ESP_FILE "esp_sa"

/* Opens (creates, mode 0600) both files in dir, which is made (0700) if
 * missing; NULL with the reason in why. */
struct keylog *keylog_new(struct event_base *base, const char *dir, char *why, size_t whylen);
void keylog_free(struct keylog *k); /* NULL-safe */

/* One ikev2_decryption_table row for an IKE SA's keys (host.ike_keys). */
void keylog_ike(struct keylog *k, const struct ike_keys_info *i);
/* Two esp_sa rows (inbound and outbound) for a Child SA as installed or
 * moved to new addresses (host.child_up, host.child_moved). */
void keylog_child(struct keylog *k, const struct ike_child_info *c);

#endif
