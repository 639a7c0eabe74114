#!/usr/bin/python3
"""Regenerate the stream fuzz seeds from a real save of a 4 MiB guest:
make-corpus.py BUILD_DIR. Needs /dev/kvm. Seeds are of the revision
godwit writes; v1-*.bin are revision 1 seeds kept from before."""
import os, shutil, subprocess, sys, time, struct, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../kvm"))
from lib.stream import Stream, Record, PAGE_DATA
b = os.path.abspath(sys.argv[1])
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../corpus/stream")
tmp = tempfile.mkdtemp()
p = subprocess.Popen([b+"/godwit","run","--kernel",b+"/guests/lifecycle.elf","--cmdline","action=hang","--memory","4","--qmp",tmp+"/q","--serial","none"])
time.sleep(1.0)
subprocess.run([b+"/godwit","save",tmp+"/q",tmp+"/full.sav"],check=True)
p.wait()
data = open(tmp+"/full.sav","rb").read()
print("full", len(data))
s = Stream(data)
pages = s.find(PAGE_DATA)
print("pages records", len(pages), [len(r.body) for r in pages])
# 1: state only (no pages): small and valid
s1 = Stream(data); s1.records = [r for r in s1.records if r.type != PAGE_DATA]
open(out+"/state-only.bin","wb").write(s1.encode())
# 2: one small page batch with 2 pages + a zero page
s2 = Stream(data)
s2.records = [r for r in s2.records if r.type != PAGE_DATA]
body = struct.pack("<IIQQQ", 3, 0, 0x100, 0x101 | (1<<56), 0x102) + b"\xab"*4096 + b"\xcd"*4096
s2.records.insert(1, Record(0, PAGE_DATA, body))
open(out+"/small-pages.bin","wb").write(s2.encode())
# 3: header only
open(out+"/header-only.bin","wb").write(s.header())
# 4: truncated mid record
d = s1.encode(); open(out+"/truncated.bin","wb").write(d[:len(d)//2])
# 5: optional unknown record
s5 = Stream(s1.encode()); s5.records.insert(2, Record(0, 0x80000077, b"opt-data"))
open(out+"/optional.bin","wb").write(s5.encode())
# 6: two vcpus? skip. 7: round + live flag
s7 = Stream(s2.encode()); s7.fields[2] = 1
s7.records.insert(1, Record(0, 0x8000000f, struct.pack("<IIQQQ",1,0,3,1,1000)))
open(out+"/live-round.bin","wb").write(s7.encode())
for f in sorted(os.listdir(out)): print(f, os.path.getsize(out+"/"+f))
open(out+"/full-4mib.bin","wb").write(data)
# 8: a pending power-button press: state only, with the ged0 DEVICE record
# holding an event (the hang guest ignores the button).
from lib.gw import Qmp
p = subprocess.Popen([b+"/godwit","run","--kernel",b+"/guests/lifecycle.elf","--cmdline","action=hang","--memory","4","--qmp",tmp+"/q2","--serial","none"])
time.sleep(1.0)
q = Qmp(tmp+"/q2"); q.execute("stop"); q.execute("system_powerdown"); q.close()
subprocess.run([b+"/godwit","save",tmp+"/q2",tmp+"/ged.sav"],check=True)
p.wait()
s8 = Stream(open(tmp+"/ged.sav","rb").read())
s8.records = [r for r in s8.records if r.type != PAGE_DATA]
open(out+"/ged-pending.bin","wb").write(s8.encode())
# 9: two saves of one paused VM spliced (revision 2 refuses at the splice)
p = subprocess.Popen([b+"/godwit","run","--kernel",b+"/guests/lifecycle.elf","--cmdline","action=hang","--memory","4","--qmp",tmp+"/q3","--serial","none"])
time.sleep(1.0)
subprocess.run([b+"/godwit","save","-p",tmp+"/q3",tmp+"/s1.sav"],check=True)
subprocess.run([b+"/godwit","save",tmp+"/q3",tmp+"/s2.sav"],check=True)
p.wait()
a = Stream(open(tmp+"/s1.sav","rb").read())
c = Stream(open(tmp+"/s2.sav","rb").read())
k = len(a.records) // 2
open(out+"/spliced.bin","wb").write(a.raw_header + b"".join(r.raw for r in a.records[:k] + c.records[k:]))
shutil.rmtree(tmp)
