// A SQLite VFS that hands the write-ahead log to the kernel in few large writes.
//
// SQLite writes each WAL frame with two pwrite calls (a 24-byte header, then the page), so a
// commit that dirties 170 pages makes 340 system calls before its fsync. This VFS wraps the
// platform's default VFS and, for WAL files only, gathers writes that continue one another in
// memory and writes them in pieces of up to ~124 KiB (the largest write the Unix VFS makes)
// when SQLite syncs, reads, truncates, asks the size of or closes the file, writes elsewhere in
// it, or has gathered kBufferedWalBytes.
//
// Durability is unchanged: SQLite counts a commit durable only after its xSync of the WAL, and
// every byte gathered before it is written before that sync. A crash before the sync loses
// what a crash before the sync loses anyway (an uncommitted tail, which SQLite's recovery
// ignores by its frame checksums). Other connections read only frames that the WAL index names
// as committed, which SQLite updates after that sync; this connection's own reads of the WAL
// write what is gathered first. Every other file (the database, the WAL index) is the default
// VFS's, untouched.
#ifndef SAFEGUARD_BROKER_STORAGE_INTERNAL_BUFFERED_WAL_VFS_H_
#define SAFEGUARD_BROKER_STORAGE_INTERNAL_BUFFERED_WAL_VFS_H_

#include <cstddef>

namespace safeguard::storage::internal {

inline constexpr const char* kBufferedWalVfsName = "safeguard-buffered-wal";
inline constexpr size_t kBufferedWalBytes = 4 << 20;

// Registers the VFS (not as the default) once per process; returns its name for
// sqlite3_open_v2, or nullptr (use the default VFS) if SQLite has no default VFS to wrap.
const char* BufferedWalVfs();

// Writes the kernel received for WAL files through this VFS, since the process started (for
// tests: how many pwrite calls the gathering saved).
size_t BufferedWalWritesIssued();

}  // namespace safeguard::storage::internal

#endif  // SAFEGUARD_BROKER_STORAGE_INTERNAL_BUFFERED_WAL_VFS_H_
