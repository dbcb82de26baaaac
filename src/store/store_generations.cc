#include "store/store_generations.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lok::store {
namespace {

constexpr std::string_view kPointerFile = "CURRENT_STORE";
constexpr std::string_view kGenerationPrefix = "store-v";

std::string NameOf(int generation) {
  return generation == 0 ? "state" : std::string(kGenerationPrefix) + std::to_string(generation);
}

// The generation a directory name stands for, or -1.
int GenerationOf(std::string_view name) {
  if (name == "state") return 0;
  if (name.substr(0, kGenerationPrefix.size()) != kGenerationPrefix) return -1;
  const std::string_view digits = name.substr(kGenerationPrefix.size());
  if (digits.empty() || digits.size() > 9) return -1;
  int generation = 0;
  for (char digit : digits) {
    if (digit < '0' || digit > '9') return -1;
    generation = generation * 10 + (digit - '0');
  }
  return generation > 0 ? generation : -1;
}

Status Errno(const std::string& what) {
  return UnavailableError(what + ": " + std::strerror(errno));
}

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return Errno("open " + path);
  const int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return Errno("fsync " + path);
  return Status::Ok();
}

}  // namespace

StatusOr<int> StoreGenerations::Current() const {
  const std::string pointer = data_dir_ + "/" + std::string(kPointerFile);
  std::ifstream file(pointer);
  if (!file) return 0;
  std::string name;
  std::getline(file, name);
  const int generation = GenerationOf(name);
  if (generation < 0) {
    return DataLossError(pointer + ": names no store generation ('" + name + "')");
  }
  return generation;
}

std::string StoreGenerations::PathOf(int generation) const {
  return data_dir_ + "/" + NameOf(generation);
}

std::vector<int> StoreGenerations::OnDisk() const {
  std::vector<int> generations;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir_, error)) {
    if (!entry.is_directory(error)) continue;
    const int generation = GenerationOf(entry.path().filename().string());
    if (generation >= 0) generations.push_back(generation);
  }
  std::sort(generations.begin(), generations.end());
  return generations;
}

StatusOr<int> StoreGenerations::Next() const {
  LOK_ASSIGN_OR_RETURN(int current, Current());
  int highest = current;
  for (int generation : OnDisk()) highest = std::max(highest, generation);
  return highest + 1;
}

Status StoreGenerations::MakeCurrent(int generation) {
  const std::string pointer = data_dir_ + "/" + std::string(kPointerFile);
  const std::string temporary = pointer + ".tmp";
  const std::string contents = NameOf(generation) + "\n";
  {
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return Errno("open " + temporary);
    const ssize_t written = ::write(fd, contents.data(), contents.size());
    const bool complete = written == static_cast<ssize_t>(contents.size());
    const bool synced = complete && ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) return Errno("write " + temporary);
  }
  if (::rename(temporary.c_str(), pointer.c_str()) != 0) return Errno("rename to " + pointer);
  return SyncPath(data_dir_, O_RDONLY | O_DIRECTORY);
}

Status StoreGenerations::Remove(int generation) {
  LOK_ASSIGN_OR_RETURN(int current, Current());
  if (generation == current) {
    return FailedPreconditionError("store generation " + std::to_string(generation) +
                                   " is current; only older ones can be dropped");
  }
  std::error_code error;
  std::filesystem::remove_all(PathOf(generation), error);
  // Its checkpoints (engine/checkpoints.h), when any.
  if (!error) std::filesystem::remove_all(PathOf(generation) + ".checkpoints", error);
  if (error) return UnavailableError("remove " + PathOf(generation) + ": " + error.message());
  return Status::Ok();
}

}  // namespace lok::store
