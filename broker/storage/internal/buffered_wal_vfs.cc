#include "broker/storage/internal/buffered_wal_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

namespace safeguard::storage::internal {
namespace {

sqlite3_vfs* Inner();

std::atomic<size_t> g_writes_issued{0};

// What SQLite allocates for a WAL file opened through this VFS: this header, then the default
// VFS's own file object. Every other file is the default VFS's object alone, at the same address.
struct WalFile {
  sqlite3_file base;    // pMethods = &kWalMethods
  sqlite3_file* inner;  // just after this header
  std::string* gathered;  // bytes written by SQLite and not yet by the kernel
  sqlite3_int64 gathered_at;  // the file offset of gathered->front()
};

WalFile* Wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
const sqlite3_io_methods* In(WalFile* w) { return w->inner->pMethods; }

// The Unix VFS writes at most 128 KiB - 1 per call (seekAndWriteFd masks the length to 17
// bits), so larger runs go in pieces just under that.
constexpr size_t kLargestWrite = (128 << 10) - 4096;

int WriteThrough(WalFile* w, const char* data, size_t size, sqlite3_int64 offset) {
  while (size > 0) {
    const size_t n = std::min(size, kLargestWrite);
    g_writes_issued.fetch_add(1, std::memory_order_relaxed);
    if (int rc = In(w)->xWrite(w->inner, data, static_cast<int>(n), offset); rc != SQLITE_OK) {
      return rc;
    }
    data += n;
    size -= n;
    offset += static_cast<sqlite3_int64>(n);
  }
  return SQLITE_OK;
}

int Flush(WalFile* w) {
  if (w->gathered->empty()) return SQLITE_OK;
  int rc = WriteThrough(w, w->gathered->data(), w->gathered->size(), w->gathered_at);
  w->gathered->clear();  // on failure too: SQLite abandons the transaction the bytes were for
  return rc;
}

int Close(sqlite3_file* f) {
  WalFile* w = Wal(f);
  int flushed = Flush(w);
  int rc = In(w)->xClose(w->inner);
  delete w->gathered;
  w->gathered = nullptr;
  return flushed != SQLITE_OK ? flushed : rc;
}

int Read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  WalFile* w = Wal(f);
  if (int rc = Flush(w); rc != SQLITE_OK) return rc;
  return In(w)->xRead(w->inner, out, amount, offset);
}

int Write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  WalFile* w = Wal(f);
  std::string& g = *w->gathered;
  const bool continues = !g.empty() && offset == w->gathered_at + static_cast<sqlite3_int64>(g.size());
  if (!continues || g.size() + static_cast<size_t>(amount) > kBufferedWalBytes) {
    if (int rc = Flush(w); rc != SQLITE_OK) return rc;
    if (static_cast<size_t>(amount) >= kBufferedWalBytes) {
      return WriteThrough(w, static_cast<const char*>(data), static_cast<size_t>(amount), offset);
    }
    w->gathered_at = offset;
  }
  g.append(static_cast<const char*>(data), static_cast<size_t>(amount));
  return SQLITE_OK;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  WalFile* w = Wal(f);
  if (int rc = Flush(w); rc != SQLITE_OK) return rc;
  return In(w)->xTruncate(w->inner, size);
}

int Sync(sqlite3_file* f, int flags) {
  WalFile* w = Wal(f);
  if (int rc = Flush(w); rc != SQLITE_OK) return rc;
  return In(w)->xSync(w->inner, flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  WalFile* w = Wal(f);
  if (int rc = Flush(w); rc != SQLITE_OK) return rc;
  return In(w)->xFileSize(w->inner, size);
}

int Lock(sqlite3_file* f, int level) { return In(Wal(f))->xLock(Wal(f)->inner, level); }
int Unlock(sqlite3_file* f, int level) { return In(Wal(f))->xUnlock(Wal(f)->inner, level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return In(Wal(f))->xCheckReservedLock(Wal(f)->inner, out);
}

int FileControl(sqlite3_file* f, int op, void* arg) {
  WalFile* w = Wal(f);
  if (int rc = Flush(w); rc != SQLITE_OK) return rc;
  return In(w)->xFileControl(w->inner, op, arg);
}

int SectorSize(sqlite3_file* f) { return In(Wal(f))->xSectorSize(Wal(f)->inner); }
int DeviceCharacteristics(sqlite3_file* f) {
  return In(Wal(f))->xDeviceCharacteristics(Wal(f)->inner);
}

// Version 2 and 3 methods: a WAL file has no shared memory and is not memory-mapped by
// SQLite, but forward them all the same.
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  const sqlite3_io_methods* m = In(Wal(f));
  if (m->iVersion < 2 || m->xShmMap == nullptr) return SQLITE_IOERR_SHMMAP;
  return m->xShmMap(Wal(f)->inner, region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  const sqlite3_io_methods* m = In(Wal(f));
  if (m->iVersion < 2 || m->xShmLock == nullptr) return SQLITE_IOERR_SHMLOCK;
  return m->xShmLock(Wal(f)->inner, offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) {
  const sqlite3_io_methods* m = In(Wal(f));
  if (m->iVersion >= 2 && m->xShmBarrier != nullptr) m->xShmBarrier(Wal(f)->inner);
}
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  const sqlite3_io_methods* m = In(Wal(f));
  if (m->iVersion < 2 || m->xShmUnmap == nullptr) return SQLITE_OK;
  return m->xShmUnmap(Wal(f)->inner, delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  WalFile* w = Wal(f);
  *out = nullptr;
  if (int rc = Flush(w); rc != SQLITE_OK) return rc;
  const sqlite3_io_methods* m = In(w);
  if (m->iVersion < 3 || m->xFetch == nullptr) return SQLITE_OK;  // "no mapping": SQLite reads
  return m->xFetch(w->inner, offset, amount, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  const sqlite3_io_methods* m = In(Wal(f));
  if (m->iVersion < 3 || m->xUnfetch == nullptr) return SQLITE_OK;
  return m->xUnfetch(Wal(f)->inner, offset, p);
}

const sqlite3_io_methods kWalMethods = {
    3,         Close,      Read,     Write,      Truncate, Sync,
    FileSize,  Lock,       Unlock,   CheckReservedLock,   FileControl,
    SectorSize, DeviceCharacteristics, ShmMap, ShmLock, ShmBarrier,
    ShmUnmap,  Fetch,      Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* inner = Inner();
  if (!(flags & SQLITE_OPEN_WAL)) return inner->xOpen(inner, name, file, flags, out_flags);
  WalFile* w = Wal(file);
  w->base.pMethods = nullptr;
  w->inner = reinterpret_cast<sqlite3_file*>(w + 1);
  w->inner->pMethods = nullptr;
  w->gathered = nullptr;
  w->gathered_at = 0;
  int rc = inner->xOpen(inner, name, w->inner, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (w->inner->pMethods != nullptr) w->inner->pMethods->xClose(w->inner);
    return rc;
  }
  w->gathered = new std::string();
  w->gathered->reserve(256 << 10);
  w->base.pMethods = &kWalMethods;
  return SQLITE_OK;
}

// The rest of the VFS is the default VFS's, called with the default VFS (the Unix VFS reads
// its own pAppData).
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return Inner()->xDelete(Inner(), name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return Inner()->xAccess(Inner(), name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return Inner()->xFullPathname(Inner(), name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return Inner()->xDlOpen(Inner(), name); }
void DlError(sqlite3_vfs*, int n, char* out) { Inner()->xDlError(Inner(), n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return Inner()->xDlSym(Inner(), handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { Inner()->xDlClose(Inner(), handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return Inner()->xRandomness(Inner(), n, out); }
int Sleep(sqlite3_vfs*, int us) { return Inner()->xSleep(Inner(), us); }
int CurrentTime(sqlite3_vfs*, double* out) { return Inner()->xCurrentTime(Inner(), out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return Inner()->xGetLastError ? Inner()->xGetLastError(Inner(), n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  if (Inner()->iVersion >= 2 && Inner()->xCurrentTimeInt64) {
    return Inner()->xCurrentTimeInt64(Inner(), out);
  }
  double days = 0;
  int rc = Inner()->xCurrentTime(Inner(), &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

sqlite3_vfs* g_inner = nullptr;
sqlite3_vfs g_vfs;
sqlite3_vfs* Inner() { return g_inner; }

}  // namespace

const char* BufferedWalVfs() {
  static std::once_flag once;
  static bool registered = false;
  std::call_once(once, [] {
    g_inner = sqlite3_vfs_find(nullptr);
    if (g_inner == nullptr) return;
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(WalFile)) + g_inner->szOsFile;
    g_vfs.mxPathname = g_inner->mxPathname;
    g_vfs.zName = kBufferedWalVfsName;
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xDlOpen = DlOpen;
    g_vfs.xDlError = DlError;
    g_vfs.xDlSym = DlSym;
    g_vfs.xDlClose = DlClose;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    registered = sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0) == SQLITE_OK;
  });
  return registered ? kBufferedWalVfsName : nullptr;
}

size_t BufferedWalWritesIssued() { return g_writes_issued.load(std::memory_order_relaxed); }

}  // namespace safeguard::storage::internal
