// psflow-launch: starts every task of a job from its job file, watches
// them, and ends them together.
//
//   psflow-launch configs/fashion_mnist.yaml [--set key.path=value ...]
//   psflow-launch job.yaml --dry-run          # each task's host, command line and environment
//   psflow-launch job.yaml --emit k8s         # a Kubeflow TFJob (+ ConfigMap) for the same job
//   psflow-launch job.yaml --emit slurm       # an sbatch script for the same job
//
// Tasks whose address is on this machine run as child processes; others
// over `launch.ssh` (same binary paths there).  Every output line is
// written to model_dir/logs/<role>-<index>.log and, prefixed with
// role:index, to the terminal (the chief's and the evaluator's lines, and
// every warning or error; --verbose shows all, --quiet none).  A status
// line shows global step, loss, examples/s, the last checkpoint and the
// last evaluation.
//
// Failures: a failed worker (or evaluator) is restarted after a backoff,
// launch.worker_restarts times; a failed PS task or chief restarts the whole
// job from its latest checkpoint, launch.job_restarts times.  Ctrl-C or
// SIGTERM: the chief writes its final checkpoint, every task exits.
//
// Exit codes (common/cluster/exit_codes.h): 0 the job finished; 1 a task
// failed beyond its restarts; 2 bad input (command line, job file, a file
// it names); 3 the checkpoint in model_dir cannot be used; 130 / 143
// stopped by SIGINT / SIGTERM (after the final checkpoint).
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/cluster/cli.h"
#include "common/cluster/exit_codes.h"
#include "common/cluster/job_config.h"
#include "common/core/env.h"
#include "common/core/status_record.h"
#include "common/core/strcat.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration Secs(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }


struct Options {
  std::string config;  // absolute
  std::vector<std::string> sets;
  bool dry_run = false;
  std::string emit;  // k8s | slurm
  bool verbose = false, quiet = false;
};

struct TaskSpec {
  std::string type;
  int index = 0;
  std::string address, host;
  bool local = true;
  std::vector<std::string> argv;  // what runs here (ssh ... for remote tasks)
  std::string command;            // the task's own command line (for display)
  std::string name() const { return StrCat(type, ":", index); }
};

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@+%") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string SelfDir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::string Absolute(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof(buf)) == nullptr) return p;
  return JoinPath(buf, p);
}

// The binary of `role`: launch.bin_dir, else next to psflow-launch, else in
// the build tree layout (<build>/<role>/psflow-<role>).
std::string Binary(const JobConfig& job, const std::string& role) {
  const std::string name = "psflow-" + role;
  if (!job.launch.bin_dir.empty()) return JoinPath(job.launch.bin_dir, name);
  const std::string self = SelfDir();
  const std::string beside = JoinPath(self, name);
  if (::access(beside.c_str(), X_OK) == 0) return beside;
  return JoinPath(JoinPath(self, "../" + role), name);
}

std::set<std::string> LocalAddresses() {
  std::set<std::string> out = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""};
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0) out.insert(host);
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      const int family = i->ifa_addr->sa_family;
      if (family != AF_INET && family != AF_INET6) continue;
      char buf[NI_MAXHOST];
      const socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
      if (::getnameinfo(i->ifa_addr, len, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) == 0) out.insert(buf);
    }
    ::freeifaddrs(ifs);
  }
  return out;
}

std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  std::string h = colon == std::string::npos ? address : address.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

std::vector<TaskSpec> Tasks(const JobConfig& job, const Options& o) {
  const std::set<std::string> local = LocalAddresses();
  std::vector<TaskSpec> tasks;
  auto add = [&](const std::string& type, const std::vector<std::string>& addresses) {
    for (size_t i = 0; i < addresses.size(); ++i) {
      TaskSpec t{.type = type, .index = static_cast<int>(i), .address = addresses[i], .host = HostOf(addresses[i])};
      t.local = local.count(t.host) > 0;
      std::vector<std::string> cmd = {Binary(job, type), "--config", o.config, "--task_type", type, "--task_index",
                                      std::to_string(i)};
      for (const std::string& s : o.sets) {
        cmd.push_back("--set");
        cmd.push_back(s);
      }
      std::vector<std::string> quoted;
      for (const auto& c : cmd) quoted.push_back(ShellQuote(c));
      t.command = StrJoin(quoted, " ");
      if (t.local) {
        t.argv = cmd;
      } else {
        std::string remote = "exec " + t.command;
        if (const char* tok = std::getenv("PSFLOW_CLUSTER_TOKEN"); tok != nullptr && *tok != '\0') {
          remote = StrCat("PSFLOW_CLUSTER_TOKEN=", ShellQuote(tok), " ", remote);
        }
        // -tt: a remote pseudo-terminal, so that the task gets SIGHUP when the connection goes.
        t.argv = {job.launch.ssh, "-tt", "-o", "BatchMode=yes", t.host, remote};
      }
      tasks.push_back(std::move(t));
    }
  };
  add("ps", job.cluster.ps);
  add("chief", job.cluster.chief);
  add("worker", job.cluster.worker);
  add("evaluator", job.cluster.evaluator);
  return tasks;
}

// ---------------------------------------------------------------- emitters

std::string DnsName(std::string s) {
  for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  while (!s.empty() && s.front() == '-') s.erase(s.begin());
  while (!s.empty() && s.back() == '-') s.pop_back();
  return s.empty() ? "psflow-job" : s.substr(0, 50);
}

// Inside a k8s pod or a Slurm step a task sees only the GPUs it was given,
// numbered from 0.  A task whose job file names GPUs (gpu:N, run.gpus,
// run.task_devices) is told to use the first `gpus` of those it sees
// (--set run.task_devices={TYPE: "gpu:0,..."}); under auto it picks among
// them itself.  Empty when nothing needs renumbering.
std::string VisibleGpusSet(const JobConfig& job, const std::vector<TaskId>& tasks, int64_t gpus) {
  if (gpus <= 0 || tasks.empty()) return "";
  bool named = false;
  for (const TaskId& t : tasks) named = named || TaskDeviceSpec(job.run, t).kind == DeviceSpec::kGpus;
  if (!named) return "";
  std::vector<std::string> ids;
  for (int64_t i = 0; i < gpus; ++i) ids.push_back(std::to_string(i));
  return StrCat("run.task_devices={", tasks.front().type, ": \"gpu:", StrJoin(ids, ","), "\"}");
}

int EmitK8s(const JobConfig& job, const Options& o) {
  std::ifstream in(o.config);
  std::stringstream text;
  text << in.rdbuf();
  std::string base = job.run.model_dir;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string name = DnsName("psflow-" + base.substr(base.rfind('/') + 1));
  std::cout << "# Kubeflow TFJob for " << o.config << " (written by psflow-launch --emit k8s).\n"
            << "# The TFJob operator sets TF_CONFIG for every pod; psflow reads the cluster and the task from it.\n"
            << "# model_dir (" << job.run.model_dir << ") must be on the shared volume mounted below.\n"
            << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " << name << "-config\ndata:\n  job.yaml: |\n";
  std::string line;
  while (std::getline(text, line)) std::cout << "    " << line << "\n";
  std::cout << "---\napiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata:\n  name: " << name << "\nspec:\n"
            << "  runPolicy:\n    cleanPodPolicy: Running\n  tfReplicaSpecs:\n";
  const std::vector<std::pair<std::string, size_t>> replicas = {{"PS", job.cluster.ps.size()},
                                                                {"Chief", job.cluster.chief.size()},
                                                                {"Worker", job.cluster.worker.size()},
                                                                {"Evaluator", job.cluster.evaluator.size()}};
  for (const auto& [kind, n] : replicas) {
    if (n == 0) continue;
    std::string role = kind;  // PS -> ps, Chief -> chief, ...
    for (char& c : role) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::cout << "    " << kind << ":\n      replicas: " << n << "\n"
              << "      restartPolicy: " << (kind == "Worker" || kind == "Evaluator" ? "OnFailure" : "ExitCode") << "\n"
              << "      template:\n        spec:\n          containers:\n          - name: tensorflow\n"
              << "            image: " << job.launch.image << "\n"
              << "            command: [\"psflow-" << role << "\", \"--config\", \"/etc/psflow/job.yaml\"";
    // One template per replica type: it asks for the most any of its tasks needs.
    int64_t gpus = 0;
    std::vector<TaskId> ids;
    for (size_t i = 0; i < n; ++i) {
      ids.push_back({role, static_cast<int64_t>(i)});
      gpus = std::max(gpus, GpusForTask(job, ids.back()));
    }
    std::vector<std::string> sets = o.sets;
    if (std::string v = VisibleGpusSet(job, ids, gpus); !v.empty()) sets.push_back(v);
    for (const auto& s : sets) std::cout << ", \"--set\", " << JsonQuote(s);
    std::cout << "]\n";
    if (gpus > 0) {
      std::cout << "            resources:\n              limits: {nvidia.com/gpu: " << gpus << "}\n";
    }
    std::cout << "            ports:\n            - name: tfjob-port\n              containerPort: 2222\n"
              << "            volumeMounts:\n            - {name: job, mountPath: /etc/psflow}\n"
              << "            - {name: model-dir, mountPath: " << job.run.model_dir << "}\n"
              << "          volumes:\n          - name: job\n            configMap: {name: " << name << "-config}\n"
              << "          - name: model-dir\n            persistentVolumeClaim: {claimName: " << name << "-model-dir}\n";
  }
  return kExitOk;
}

int EmitSlurm(const JobConfig& job, const Options& o, const std::vector<TaskSpec>& tasks) {
  std::set<std::string> hosts;
  std::map<std::string, int64_t> node_gpus;  // a step's GPUs are its own: a node needs the sum of its tasks'
  for (const auto& t : tasks) {
    hosts.insert(t.host);
    node_gpus[t.host] += GpusForTask(job, {t.type, t.index});
  }
  int64_t per_node = 0;
  for (const auto& [host, n] : node_gpus) per_node = std::max(per_node, n);
  std::cout << "#!/bin/bash\n# Slurm batch script for " << o.config << " (written by psflow-launch --emit slurm).\n"
            << "# The job file's addresses name the nodes; each task runs with srun on its node.\n";
  if (per_node > 0) {
    std::cout << "# Each task's GPUs are its own (a step's GRES are exclusive), seen by the task as gpu:0...;\n"
              << "# a node holds the sum of its tasks' GPUs (run.task_devices: {evaluator: cpu} frees the evaluator's).\n";
  }
  std::cout << "#SBATCH --job-name=psflow\n#SBATCH --nodes=" << hosts.size() << "\n#SBATCH --nodelist="
            << StrJoin(std::vector<std::string>(hosts.begin(), hosts.end()), ",") << "\n"
            << "#SBATCH --ntasks=" << tasks.size() << "\n"
            << (per_node > 0 ? StrCat("#SBATCH --gres=gpu:", per_node, "\n") : "")
            << "#SBATCH --output=" << JoinPath(job.run.model_dir, "logs/slurm-%j.out")
            << "\nset -u\nmkdir -p " << ShellQuote(JoinPath(job.run.model_dir, "logs")) << "\n";
  for (const auto& t : tasks) {
    const int64_t gpus = GpusForTask(job, {t.type, t.index});
    const std::string renumber = VisibleGpusSet(job, {{t.type, t.index}}, gpus);
    std::cout << "srun --nodes=1 --ntasks=1 --nodelist=" << t.host << (gpus > 0 ? StrCat(" --gres=gpu:", gpus) : "")
              << " --output="
              << ShellQuote(JoinPath(job.run.model_dir, StrCat("logs/", t.type, "-", t.index, ".log"))) << " " << t.command
              << (renumber.empty() ? "" : StrCat(" --set ", ShellQuote(renumber))) << " &\n";
    if (t.type == "chief") std::cout << "chief=$!\n";
  }
  std::cout << "wait $chief; rc=$?\n"
            << "# PS tasks exit when the chief is done; give the evaluator time for the final checkpoint.\n"
            << "sleep " << static_cast<int64_t>(job.launch.finish_timeout_secs) << " & wait -n; kill $(jobs -p) 2>/dev/null\n"
            << "exit $rc\n";
  return kExitOk;
}

// ---------------------------------------------------------------- running

int g_signal_pipe[2] = {-1, -1};
void OnSignal(int sig) {
  const char c = static_cast<char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &c, 1);
}

// A task that ran this long before failing was healthy: its restart count
// and backoff start again.
constexpr auto kHealthyRun = std::chrono::seconds(60);

struct Proc {
  TaskSpec spec;
  pid_t pid = -1;
  int fd = -1;
  std::string partial;
  std::ofstream log;
  int restarts = 0;        // in a row: a run of kHealthyRun or longer starts a fresh count
  int total_restarts = 0;  // over the job
  Clock::time_point started_at;
  bool pending = false;  // waiting to be restarted
  Clock::time_point restart_at;
  std::optional<int> exit_code;  // of the last run
  bool finished = false;         // exited and will not be restarted
  std::string error;             // the last "psflow <task>: ..." error line of its current run
};

struct JobStatus {
  int64_t step = -1;
  double loss = 0, steps_per_sec = 0;
  std::string checkpoint;
  int64_t eval_step = -1;
  std::string eval_metrics;
  double eval_accuracy = -1;
};

class Launcher {
 public:
  Launcher(JobConfig job, Options o, std::vector<TaskSpec> tasks)
      : job_(std::move(job)), o_(std::move(o)), tty_(::isatty(1) != 0) {
    for (auto& t : tasks) procs_.push_back(Proc{.spec = std::move(t)});
  }

  int Run() {
    const std::string logs = JoinPath(job_.run.model_dir, "logs");
    if (Status s = Env::Default()->CreateDirs(logs); !s.ok()) {
      std::cerr << "psflow-launch: cannot create " << logs << ": " << s
                << "\n  run.model_dir (" << job_.run.model_dir
                << ") must be a directory this user can write; set it to another path with --set run.model_dir=...\n";
      return kExitBadInput;
    }
    for (auto& p : procs_) {
      p.log.open(LogPath(p), std::ios::app);
    }
    if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return kExitError;
    struct sigaction sa = {};
    sa.sa_handler = OnSignal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    Say(StrCat("job ", job_.source, ": ", procs_.size(), " tasks, model_dir ", job_.run.model_dir, ", logs in ", logs));
    start_ = Clock::now();
    StartAll();
    return Loop();
  }

 private:
  // Prints a launcher message (above the status line).
  void Say(const std::string& msg) { Print(StrCat("psflow-launch: ", msg)); }
  void Print(const std::string& line) {
    if (tty_ && status_shown_) std::cout << "\r\033[K";
    std::cout << line << "\n";
    if (tty_ && status_shown_) std::cout << status_line_;
    std::cout.flush();
  }

  void StartAll() {
    for (auto& p : procs_) {
      p.finished = false;
      p.pending = false;
      Start(&p);
    }
  }

  void Start(Proc* p) {
    if (p->fd >= 0) ::close(p->fd);  // an earlier life's pipe still held open by a grandchild
    p->fd = -1;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      Say(StrCat("cannot start ", p->spec.name(), ": pipe: ", std::strerror(errno)));
      return;
    }
    p->started_at = Clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);  // the launcher decides who gets which signal
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      std::vector<char*> argv;
      for (auto& a : p->spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "psflow-launch: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(fds[1]);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);  // Drain reads what there is and returns
    if (pid < 0) {
      ::close(fds[0]);
      Say(StrCat("cannot start ", p->spec.name(), ": fork: ", std::strerror(errno)));
      return;
    }
    p->pid = pid;
    p->fd = fds[0];
    p->partial.clear();
    p->error.clear();
    p->exit_code.reset();
    p->log << "=== psflow-launch: " << p->spec.name() << " started (pid " << pid << "): " << p->spec.command << std::endl;
  }

  void Signal(Proc* p, int sig) {
    if (p->pid > 0) ::kill(-p->pid, sig);  // its process group
  }
  bool Running(const Proc& p) const { return p.pid > 0; }
  Proc* Chief() {
    for (auto& p : procs_) {
      if (p.spec.type == "chief") return &p;
    }
    return nullptr;
  }

  void OnLine(Proc* p, std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    p->log << line << "\n";
    p->log.flush();
    // What a task prints on stderr as it fails (tasks.cc ExitFor, bad flags).
    if (line.rfind("psflow ", 0) == 0 || line.rfind("psflow-", 0) == 0) p->error = line;
    // Progress comes as typed records (common/core/status_record.h), not
    // from the wording of log lines; they go to the log, not the console.
    if (auto r = ParseStatusRecord(line)) {
      OnRecord(*p, *r);
      return;
    }
    if (o_.quiet) return;
    const bool important = !line.empty() && (line[0] == 'W' || line[0] == 'E' || line[0] == 'F' ||
                                             line.rfind("psflow", 0) == 0);
    if (o_.verbose || important || p->spec.type == "chief" || p->spec.type == "evaluator") {
      Print(StrCat(p->spec.name(), " | ", line));
    }
  }

  void OnRecord(const Proc& p, const StatusRecord& r) {
    const auto step = r.Number("step");
    if (p.spec.type == "chief" && r.kind == "step" && step) {
      status_.step = static_cast<int64_t>(*step);
      status_.loss = r.Number("loss").value_or(status_.loss);
      status_.steps_per_sec = r.Number("steps_per_sec").value_or(status_.steps_per_sec);
    } else if (p.spec.type == "chief" && r.kind == "ps_recovered" && step) {
      Say(StrCat("chief:0 restored ps:", r.Field("task"), " from ", r.Field("path"), " (its variables as of global_step ",
                 static_cast<int64_t>(*step), "; the other PS tasks kept theirs, training went on from global_step ",
                 status_.step, ")"));
    } else if (p.spec.type == "chief" && r.kind == "saving" && step) {
      status_.step = std::max(status_.step, static_cast<int64_t>(*step));
    } else if (p.spec.type == "chief" && r.kind == "restore" && step) {
      // After a restart: what the restart cost, in steps trained again.
      const int64_t restored = static_cast<int64_t>(*step);
      if (reached_before_restart_ >= 0) {
        const int64_t lost = std::max<int64_t>(0, reached_before_restart_ - restored);
        steps_lost_ += lost;
        Say(StrCat("chief:0 restored ", r.Field("path"), " (global_step ", restored, "); the run had reached step ",
                   reached_before_restart_, " or more (the last the chief reported): at least ", lost,
                   " steps lost, which the checkpoint interval bounds"));
        reached_before_restart_ = -1;
      }
      status_.step = restored;
    } else if (p.spec.type == "chief" && r.kind == "checkpoint" && step) {
      status_.checkpoint = r.Field("path");
      status_.step = std::max(status_.step, static_cast<int64_t>(*step));
    } else if (p.spec.type == "evaluator" && r.kind == "eval" && step) {
      status_.eval_step = static_cast<int64_t>(*step);
      std::vector<std::string> parts;
      for (const auto& [k, v] : r.fields) {
        if (k != "step") parts.push_back(StrCat(k, " = ", v));
      }
      status_.eval_metrics = StrJoin(parts, ", ");
      status_.eval_accuracy = r.Number("accuracy").value_or(-1);
    }
  }

  void Drain(Proc* p) {
    char buf[8192];
    while (true) {
      const ssize_t n = ::read(p->fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;  // nothing more for now
      if (n <= 0) {
        if (!p->partial.empty()) OnLine(p, std::exchange(p->partial, ""));
        ::close(p->fd);
        p->fd = -1;
        return;
      }
      p->partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = p->partial.find('\n')) != std::string::npos) {
        OnLine(p, p->partial.substr(0, nl));
        p->partial.erase(0, nl + 1);
      }
    }
  }

  void RefreshStatus(bool force) {
    const auto now = Clock::now();
    if (!force && now - last_status_ < Secs(job_.launch.status_secs)) return;
    last_status_ = now;
    int up = 0;
    for (const auto& p : procs_) up += Running(p);
    std::string s = StrCat("[psflow] step ", status_.step < 0 ? std::string("-") : std::to_string(status_.step), "/",
                           job_.run.train_steps);
    if (status_.step >= 0) {
      char buf[128];
      std::snprintf(buf, sizeof(buf), "  loss %.4g  %.0f examples/s", status_.loss,
                    status_.steps_per_sec * static_cast<double>(job_.data.batch_size));
      s += buf;
    }
    if (!status_.checkpoint.empty()) s += "  ckpt " + status_.checkpoint.substr(status_.checkpoint.rfind('/') + 1);
    if (status_.eval_accuracy >= 0) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "  eval accuracy %.4f @%lld", status_.eval_accuracy,
                    static_cast<long long>(status_.eval_step));
      s += buf;
    }
    s += StrCat("  tasks up ", up, "/", procs_.size());
    if (tty_) {
      status_line_ = s;
      status_shown_ = true;
      std::cout << "\r\033[K" << s << std::flush;
    } else if (!o_.quiet) {
      std::cout << s << "\n" << std::flush;
    }
  }

  // A job restart: every task is stopped, then all start again (the chief
  // restores the latest checkpoint).
  void RestartJob(const std::string& why) {
    ++job_restarts_;
    reached_before_restart_ = std::max(reached_before_restart_, status_.step);
    first_error_.clear();  // a failure of the new run is reported, not one a restart cured
    Say(StrCat(why, "; restarting the job from its latest checkpoint (restart ", job_restarts_, " of ",
               job_.launch.job_restarts, ")"));
    StopAll(std::chrono::seconds(15));
    const double backoff = std::min(60.0, job_.launch.restart_backoff_secs * (1 << std::min(job_restarts_ - 1, 5)));
    Wait(backoff);
    if (stop_signal_ == 0) StartAll();
  }

  // SIGTERM to everyone, SIGKILL after `grace`; reaps them all.
  void StopAll(std::chrono::seconds grace) {
    for (auto& p : procs_) Signal(&p, SIGTERM);
    const auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline && AnyRunning()) PollOnce(100, /*react=*/false);
    for (auto& p : procs_) Signal(&p, SIGKILL);
    while (AnyRunning()) PollOnce(100, false);
  }
  bool AnyRunning() const {
    for (const auto& p : procs_) {
      if (Running(p)) return true;
    }
    return false;
  }
  void Wait(double secs) {
    const auto until = Clock::now() + Secs(secs);
    while (Clock::now() < until && stop_signal_ == 0) PollOnce(100, false);
  }

  // One round: output, signals, exits.  With `react`, exits are acted on.
  void PollOnce(int timeout_ms, bool react) {
    std::vector<pollfd> fds = {{g_signal_pipe[0], POLLIN, 0}};
    std::vector<Proc*> owners = {nullptr};
    for (auto& p : procs_) {
      if (p.fd >= 0) {
        fds.push_back({p.fd, POLLIN, 0});
        owners.push_back(&p);
      }
    }
    ::poll(fds.data(), fds.size(), timeout_ms);
    if (fds[0].revents & POLLIN) {
      char c;
      while (::read(g_signal_pipe[0], &c, 1) == 1) OnLauncherSignal(c);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) Drain(owners[i]);
    }
    int st;
    pid_t pid;
    while ((pid = ::waitpid(-1, &st, WNOHANG)) > 0) {
      for (auto& p : procs_) {
        if (p.pid != pid) continue;
        if (p.fd >= 0) Drain(&p);  // the rest of its output (EOF closes the pipe)
        p.pid = -1;
        p.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        p.log << "=== psflow-launch: " << p.spec.name() << " exited with "
              << (WIFEXITED(st) ? StrCat("code ", WEXITSTATUS(st)) : StrCat("signal ", WTERMSIG(st))) << std::endl;
        if (react) OnExit(&p);
      }
    }
  }

  void OnLauncherSignal(int sig) {
    if (stop_signal_ != 0) {
      Say("second signal: killing every task");
      for (auto& p : procs_) Signal(&p, SIGKILL);
      return;
    }
    stop_signal_ = sig;
    Say(StrCat(sig == SIGINT ? "interrupted" : "terminated", ": the chief writes its final checkpoint, every task stops"));
    for (auto& p : procs_) {
      p.pending = false;
      if (p.spec.type != "ps") Signal(&p, SIGTERM);  // the chief shuts the PS tasks down after its last save
    }
    stop_deadline_ = Clock::now() + std::chrono::seconds(60);
  }

  void OnExit(Proc* p) {
    const int code = *p->exit_code;
    const std::string how = code > 128 ? StrCat("was killed by signal ", code - 128) : StrCat("exited with code ", code);
    if (stop_signal_ != 0 || chief_done_) {
      p->finished = true;
      if (chief_done_ && stop_signal_ == 0 && code != 0 && code != 128 + SIGTERM) {
        Say(StrCat(p->spec.name(), " ", how, " after the chief finished; not restarting it"));
      }
      return;
    }
    if (code != 0 && first_error_.empty()) {
      first_error_ = p->error.empty() ? StrCat(p->spec.name(), " ", how, " (its log: ", LogPath(*p), ")") : p->error;
    }
    if (p->spec.type == "chief" && code == 0) {
      chief_done_ = true;
      p->finished = true;
      finish_deadline_ = Clock::now() + Secs(job_.launch.finish_timeout_secs);
      others_deadline_ = Clock::now() + std::chrono::seconds(20);
      return;
    }
    if (p->spec.type == "ps" && code == 0) {
      // A PS task exits 0 when the chief has told it the job is done; the
      // chief's own exit may come a moment later.  Not a failure.
      p->finished = true;
      return;
    }
    if ((p->spec.type == "chief" || p->spec.type == "ps") && ExitMeansBadInput(code)) {
      // Bad input fails the same way every time: no restart.
      result_ = code;
      Say(StrCat(p->spec.name(), " ", how,
                 code == kExitUnusableCheckpoint ? " (the checkpoint in model_dir cannot be used)"
                                           : " (bad job file, command line, or a file they name)",
                 "; stopping the job without restarting it"));
      return;
    }
    if (p->spec.type == "ps" && job_.launch.ps_recovery == "task" && !job_.run.sync) {
      // Only this task restarts; the chief restores its variables from the
      // latest checkpoint, the other PS tasks keep theirs.
      ForgetHealthyRuns(p);
      if (p->restarts < job_.launch.worker_restarts) {
        const double backoff = ScheduleRestart(p);
        Say(StrCat(p->spec.name(), " ", how, "; restarting it alone in ", backoff, " s (launch.ps_recovery: task; restart ",
                   p->restarts, " of ", job_.launch.worker_restarts, "): the chief restores its variables from the "
                   "latest checkpoint, the other tasks keep theirs"));
        return;
      }
      Say(StrCat(p->spec.name(), " failed ", p->restarts, " times in a row; restarting the whole job instead"));
    }
    if (p->spec.type == "ps" || p->spec.type == "chief") {
      if (job_restarts_ >= job_.launch.job_restarts) {
        result_ = kExitError;
        Say(StrCat(p->spec.name(), " ", how, " and the job has been restarted ", job_restarts_, " times; giving up"));
        return;
      }
      restart_job_reason_ = StrCat(p->spec.name(), " ", how);
      return;
    }
    // A worker or the evaluator.
    if (code == 0) {
      p->finished = true;
      return;
    }
    ForgetHealthyRuns(p);
    if (code == kExitBadInput || p->restarts >= job_.launch.worker_restarts) {
      p->finished = true;
      Say(StrCat(p->spec.name(), " ", how, code == kExitBadInput ? "" : StrCat(" after ", p->restarts, " restarts"),
                 "; the job goes on without it (its log: ", JoinPath(job_.run.model_dir, "logs"), ")"));
      return;
    }
    const double backoff = ScheduleRestart(p);
    Say(StrCat(p->spec.name(), " ", how, "; restarting it in ", backoff, " s (restart ", p->restarts, " of ",
               job_.launch.worker_restarts, ")"));
  }

  // A task that had run a while before it died (a preempted machine, not a
  // crash at start) starts a fresh count and backoff: launch.worker_restarts
  // bounds failures in a row, not over a long job.
  static void ForgetHealthyRuns(Proc* p) {
    if (Clock::now() - p->started_at >= kHealthyRun) p->restarts = 0;
  }
  // Restarts `p` alone after a backoff that doubles with each restart in a
  // row (at most 60 s); returns the backoff.
  double ScheduleRestart(Proc* p) {
    const double backoff = std::min(60.0, job_.launch.restart_backoff_secs * (1 << std::min(p->restarts, 5)));
    ++p->restarts;
    ++p->total_restarts;
    p->pending = true;
    p->restart_at = Clock::now() + Secs(backoff);
    return backoff;
  }

  int Loop() {
    while (true) {
      PollOnce(200, true);
      if (result_) {
        StopAll(std::chrono::seconds(20));
        return Finish(*result_);
      }
      if (!restart_job_reason_.empty()) {
        RestartJob(std::exchange(restart_job_reason_, ""));
        continue;
      }
      const auto now = Clock::now();
      for (auto& p : procs_) {
        if (p.pending && now >= p.restart_at && stop_signal_ == 0 && !chief_done_) {
          p.pending = false;
          Start(&p);
        }
      }
      if (stop_signal_ != 0) {
        const int code = stop_signal_ == SIGINT ? 130 : 143;
        Proc* chief = Chief();
        if (!AnyRunning()) return Finish(code);
        if (chief == nullptr || !Running(*chief)) {
          // The chief has saved and told the PS tasks to go; the rest get 10 s.
          if (chief_exit_seen_at_ == Clock::time_point{}) chief_exit_seen_at_ = now;
          if (now - chief_exit_seen_at_ > std::chrono::seconds(10)) {
            StopAll(std::chrono::seconds(5));
            return Finish(code);
          }
        } else if (now > stop_deadline_) {
          Say("the chief did not finish within 60 s of the signal; killing every task");
          StopAll(std::chrono::seconds(1));
          return Finish(code);
        }
        continue;
      }
      if (chief_done_) {
        bool others = false, evaluator = false;
        for (auto& p : procs_) {
          if (!Running(p)) continue;
          (p.spec.type == "evaluator" ? evaluator : others) = true;
        }
        if (others && now > others_deadline_) {
          for (auto& p : procs_) {
            if (Running(p) && p.spec.type != "evaluator") {
              Say(StrCat(p.spec.name(), " is still running after the chief finished; stopping it"));
              Signal(&p, SIGTERM);
            }
          }
          others_deadline_ = now + std::chrono::seconds(10);
        }
        if (evaluator && now > finish_deadline_) {
          Say("the evaluator has not finished launch.finish_timeout_secs after the chief; stopping it");
          for (auto& p : procs_) {
            if (p.spec.type == "evaluator") Signal(&p, SIGTERM);
          }
          finish_deadline_ = now + std::chrono::seconds(10);
        }
        if (!others && !evaluator) return Finish(kExitOk);
      }
      RefreshStatus(false);
    }
  }

  int Finish(int code) {
    RefreshStatus(true);
    if (tty_ && status_shown_) std::cout << "\n";
    status_shown_ = false;
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    std::string what = code == kExitOk ? "finished" : code >= 128 ? "stopped" : "failed";
    Say(StrCat("job ", what, " after ", static_cast<int64_t>(secs), " s (exit code ", code, "): ",
               status_.step < 0 ? std::string("no global_step seen") : StrCat("global_step ", status_.step),
               ", last checkpoint ", status_.checkpoint.empty() ? "none" : status_.checkpoint,
               job_restarts_ > 0 ? StrCat("; ", job_restarts_, " job restarts, at least ", steps_lost_, " steps lost") : "",
               TaskRestarts() > 0 ? StrCat("; ", TaskRestarts(), " task restarts") : ""));
    if (status_.eval_step >= 0) {
      Say(StrCat("evaluator at global_step ", status_.eval_step, ": ", status_.eval_metrics));
      if (status_.eval_accuracy >= 0) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.4f", status_.eval_accuracy);
        std::cout << "test accuracy " << buf << " (global_step " << status_.eval_step << ")\n";
      }
    }
    // The cause last, where a user looks first.
    if (code != kExitOk && code < 128 && !first_error_.empty()) Say(StrCat("the first error: ", first_error_));
    return code;
  }

  int TaskRestarts() const {
    int n = 0;
    for (const auto& p : procs_) n += p.total_restarts;
    return n;
  }

  std::string LogPath(const Proc& p) const {
    return JoinPath(JoinPath(job_.run.model_dir, "logs"), StrCat(p.spec.type, "-", p.spec.index, ".log"));
  }

  const JobConfig job_;
  const Options o_;
  const bool tty_;
  std::vector<Proc> procs_;
  JobStatus status_;
  int64_t reached_before_restart_ = -1;  // global_step seen when the job last restarted
  int64_t steps_lost_ = 0;               // over all job restarts
  std::string status_line_;
  bool status_shown_ = false;
  Clock::time_point start_, last_status_;
  int stop_signal_ = 0;
  Clock::time_point stop_deadline_, chief_exit_seen_at_{};
  bool chief_done_ = false;
  Clock::time_point finish_deadline_, others_deadline_;
  int job_restarts_ = 0;
  std::string restart_job_reason_;
  std::string first_error_;  // the first failed task's error line
  std::optional<int> result_;
};

int DryRun(const JobConfig& job, const std::vector<TaskSpec>& tasks) {
  std::cout << "# psflow-launch --dry-run: " << tasks.size() << " tasks of " << job.source << "; logs go to "
            << JoinPath(job.run.model_dir, "logs") << "\n";
  for (const auto& t : tasks) {
    std::cout << "\n# " << t.name() << " at " << t.address << (t.local ? " (this machine)" : " (over ssh)") << "\n";
    std::cout << "#   environment: inherited from psflow-launch"
              << (std::getenv("PSFLOW_CLUSTER_TOKEN") != nullptr ? "; PSFLOW_CLUSTER_TOKEN passed on" : "") << "\n";
    std::vector<std::string> q;
    for (const auto& a : t.argv) q.push_back(ShellQuote(a));
    std::cout << StrJoin(q, " ") << "\n";
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app("psflow-launch: starts every task of a job from its job file, watches them, and ends them together.\n"
               "Exit codes: 0 the job finished, 1 a task failed beyond its restarts, 2 bad input, 3 the checkpoint\n"
               "in model_dir cannot be used, 130/143 stopped by SIGINT/SIGTERM.",
               "psflow-launch");
  std::string config;
  app.add_option("JOB", config, "the job file (YAML); required");
  app.add_option("--set", o.sets, "KEY.PATH=VALUE: overrides one key of the job file (repeatable)")
      ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--dry-run,--dry_run", o.dry_run, "print each task's host and command line; start nothing");
  app.add_option("--emit", o.emit, "write a Kubernetes TFJob (k8s) or an sbatch script (slurm) for the job")
      ->check(CLI::IsMember({"k8s", "slurm"}));
  app.add_flag("--verbose", o.verbose, "show every task's lines (default: the chief's, the evaluator's, warnings)");
  app.add_flag("--quiet", o.quiet, "show no task's lines");
  if (auto exit = ParseCommandLine(app, argc, argv)) return *exit;
  if (config.empty()) return MissingArgument(app, "JOB");
  o.config = Absolute(config);
  auto job = LoadJobConfig(o.config, o.sets);
  if (!job.ok()) {
    std::cerr << "psflow-launch: " << job.status() << "\n";
    return kExitBadInput;
  }
  if (job->cluster.chief.empty()) {
    std::cerr << "psflow-launch: " << o.config << ": cluster.chief is empty; a job needs a chief task\n";
    return kExitBadInput;
  }
  std::vector<TaskSpec> tasks = Tasks(*job, o);
  if (o.emit == "k8s") return EmitK8s(*job, o);
  if (o.emit == "slurm") return EmitSlurm(*job, o, tasks);
  if (o.dry_run) return DryRun(*job, tasks);
  for (const auto& t : tasks) {
    if (t.local && ::access(t.argv[0].c_str(), X_OK) != 0) {
      std::cerr << "psflow-launch: " << t.argv[0] << " (for " << t.name()
                << ") is not an executable; build psflow or set launch.bin_dir\n";
      return kExitBadInput;
    }
  }
  return Launcher(std::move(job).value(), o, std::move(tasks)).Run();
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
