#!/usr/bin/env python3
"""Compare `rikectl decode --json` with tshark's PDML dissection of the same capture.

Per frame, both sides are reduced to the sequence of payloads (RFC 7296 3.2):
type, payload length and, for Notify payloads, the notify type; for SK
payloads that both sides decrypted, the same for the inner payloads.

Frames that rike rejects as malformed, or that tshark does not dissect as
IKEv2, are reported and not compared. Prints one summary line:
  compared=N mismatched=M rike_rejected=R tshark_missing=T inner_compared=I
and exits 1 when a compared frame differs, or (with --strict) when any frame
was left out.
"""
import argparse
import json
import sys
import xml.etree.ElementTree as ET


def child_fields(elem, name):
    return [c for c in elem if c.tag == "field" and c.get("name") == name]


def first_show(elem, name):
    for c in elem.iter("field"):
        if c.get("name") == name:
            return c.get("show")
    return None


def pdml_payloads(parent):
    """The payload list directly under parent (an isakmp proto or decrypted data)."""
    out = []
    for pl in child_fields(parent, "isakmp.typepayload"):
        direct = {c.get("name"): c.get("show") for c in pl if c.tag == "field"}
        entry = {
            "type": int(pl.get("show")),
            "length": int(direct.get("isakmp.payloadlength", "-1")),
            "notify": None,
            "inner": None,
        }
        if entry["type"] == 41 and "isakmp.notify.msgtype" in direct:
            entry["notify"] = int(direct["isakmp.notify.msgtype"])
        if entry["type"] in (46, 53):
            for dec in child_fields(pl, "isakmp.enc.decrypted"):
                entry["inner"] = []  # an empty SK has no contained data
                for cont in child_fields(dec, "isakmp.enc.contained"):
                    entry["inner"] = pdml_payloads(cont)
        out.append(entry)
    return out


def load_pdml(path, offset=0):
    frames = {}
    for _, pkt in ET.iterparse(path):
        if pkt.tag != "packet":
            continue
        num = None
        isakmp = None
        for proto in pkt.findall("proto"):
            if proto.get("name") == "frame":
                num = int(first_show(proto, "frame.number")) - offset
            if proto.get("name") == "isakmp" and isakmp is None:
                isakmp = proto
        if num is not None and isakmp is not None:
            version = first_show(isakmp, "isakmp.version")
            if version is not None and version.startswith("0x2"):
                frames[num] = pdml_payloads(isakmp)
        pkt.clear()
    return frames


def rike_payloads(lst):
    out = []
    for p in lst:
        entry = {
            "type": p["type"],
            "length": p["length"],
            "notify": p.get("notify_type") if p["type"] == 41 else None,
            "inner": None,
        }
        if p["type"] in (46, 53) and "payloads" in p:
            entry["inner"] = rike_payloads(p["payloads"])
        out.append(entry)
    return out


def flat(lst):
    return [(p["type"], p["length"], p["notify"]) for p in lst]


def compare(frame, ours, theirs, report):
    """Returns (equal, inner payloads compared)."""
    if flat(ours) != flat(theirs):
        report.append(f"frame {frame}: payloads differ\n  rike:   {flat(ours)}\n  tshark: {flat(theirs)}")
        return False, 0
    inner = 0
    for a, b in zip(ours, theirs):
        if a["inner"] is None or b["inner"] is None:
            if (a["inner"] is None) != (b["inner"] is None):
                report.append(f"frame {frame}: SK decrypted by only one side "
                              f"(rike {a['inner'] is not None}, tshark {b['inner'] is not None})")
                return False, 0
            continue
        if flat(a["inner"]) != flat(b["inner"]):
            report.append(f"frame {frame}: inner payloads differ\n  rike:   {flat(a['inner'])}\n"
                          f"  tshark: {flat(b['inner'])}")
            return False, 0
        inner += len(a["inner"])
    return True, inner


def split(merged, counts, outdir):
    """Cut the PDML of captures merged with `mergecap -a` back into one PDML
    per capture, in the order of COUNTS (capinfos -T -c: file, frames), each
    with the frame number its first frame had (for --frame-offset)."""
    sizes = []
    with open(counts) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and parts[1].isdigit():
                sizes.append(int(parts[1]))
    head, packets, cur = [], [], None
    with open(merged) as f:
        for line in f:
            if cur is None and line.startswith("<packet>"):
                cur = [line]
            elif cur is not None:
                cur.append(line)
                if line.startswith("</packet>"):
                    packets.append("".join(cur))
                    cur = None
            elif not packets and not line.startswith("</pdml>"):
                head.append(line)
    if sum(sizes) != len(packets):
        sys.exit(f"split: {len(packets)} packets in {merged}, {sum(sizes)} in {counts}")
    first = 0
    for i, n in enumerate(sizes):
        with open(f"{outdir}/{i}.xml", "w") as out:
            out.write("".join(head) + "".join(packets[first:first + n]) + "</pdml>\n")
        with open(f"{outdir}/{i}.offset", "w") as out:
            out.write(f"{first}\n")
        first += n


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "split":
        split(*sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--rike", required=True)
    ap.add_argument("--pdml", required=True)
    ap.add_argument("--name", default="")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--frame-offset", type=int, default=0)
    args = ap.parse_args()

    with open(args.rike) as f:
        rike = json.load(f)
    tshark = load_pdml(args.pdml, args.frame_offset)
    compared = mismatched = rejected = missing = inner = 0
    report = []
    for msg in rike:
        frame = msg["frame"]
        if "error" in msg:
            rejected += 1
            report.append(f"frame {frame}: rike rejects: {msg['error']['reason']} "
                          f"(notify {msg['error']['notify']})")
            continue
        if frame not in tshark:
            missing += 1
            report.append(f"frame {frame}: not dissected as IKEv2 by tshark")
            continue
        ok, n = compare(frame, rike_payloads(msg["payloads"]), tshark[frame], report)
        compared += 1
        inner += n
        mismatched += 0 if ok else 1
    for line in report:
        print(f"{args.name}: {line}")
    print(f"{args.name}: compared={compared} mismatched={mismatched} rike_rejected={rejected} "
          f"tshark_missing={missing} inner_compared={inner}")
    if mismatched or (args.strict and (rejected or missing)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
