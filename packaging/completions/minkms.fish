# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_minkms_global_optspecs
    string join \n soft-hsm h/help V/version
end

function __fish_minkms_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_minkms_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_minkms_using_subcommand
    set -l cmd (__fish_minkms_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c minkms -n "__fish_minkms_needs_command" -l soft-hsm -d 'Print a freshly generated soft HSM key (hsm:aes256:...) and exit'
complete -c minkms -n "__fish_minkms_needs_command" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_needs_command" -s V -l version -d 'Print version'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "server" -d 'Start a node with its state in DIR (kms.db). The first start creates a single-node cluster'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "identity" -d 'Print the identity of an API key, or the root API key and identity an HSM key yields; without an argument, generate a new API key'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "ls" -d 'List the nodes of the cluster'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "stat" -d 'Show the status of every node of the cluster (a sealed node as sealed); exits 1 unless every node is up'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "add" -d 'Add a fresh node to the cluster: `add HOST:PORT`, or `add SERVER HOST:PORT`'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "rm" -d 'Remove a healthy node from the cluster: `rm HOST:PORT|NODE-ID`, or `rm SERVER ...`'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "edit" -d 'Force-remove dead nodes from SERVER\'s cluster definition, without write quorum (only for nodes that are permanently lost and wiped; one at a time), or accept that SERVER, removed with `--delete-cluster`, takes writes as a cluster of its own'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "backup" -d 'Write a backup of the whole state to FILE: `backup FILE`, or `backup SERVER FILE`. The file is useless without one of the HSMs that sealed the cluster\'s root key'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "restore" -d 'Restore a backup onto SERVER, a fresh single node started with one of the backup\'s HSM keys; then add nodes back'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "ls-hsm" -d 'List the HSMs: which hold a sealed root key, which are configured'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "add-hsm" -d 'Seal the root key with a configured HSM too (e.g. to migrate to it)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "rm-hsm" -d 'Remove an HSM\'s sealed copy of the root key (never the last, never the communication HSM\'s)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "add-enclave" -d 'Create an enclave'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "rm-enclave" -d 'Delete an enclave with every key, identity and policy in it'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "stat-enclave" -d 'Show an enclave'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "ls-enclave" -d 'List enclaves'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "add-key" -d 'Create a key; on an existing key, add a new version'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "import-key" -d 'Import 32 bytes of key material as a new key: in base64, or wrapped for the enclave\'s wrapping key (--wrapped FILE) so that it is never plaintext outside where it comes from'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "wrapping-key" -d 'Print the enclave\'s import wrapping key (RSA-4096, PEM), made on first use: wrap key material for it to import it with \'minkms import-key --wrapped\''
complete -c minkms -n "__fish_minkms_needs_command" -f -a "stat-key" -d 'Show a key (its latest version, or --version N)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "ls-key" -d 'List keys'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "rm-key" -d 'Delete a key version (the latest by default), or the whole key with --all'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "keygen" -d 'Generate a data key: prints its plaintext and ciphertext (base64)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "generate" -d 'Generate a data key: prints its plaintext and ciphertext (base64)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "encrypt" -d 'Encrypt a plaintext: prints the ciphertext (base64)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "decrypt" -d 'Decrypt a ciphertext (base64): prints the plaintext (base64)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "mac" -d 'Compute an HMAC-SHA256 of a message with a key: prints it (base64)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "add-policy" -d 'Create or replace a policy from a JSON file ({"allow": {...}, "deny": {...}})'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "get-policy" -d 'Print policies as JSON documents'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "stat-policy" -d 'Show policies'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "ls-policy" -d 'List policies'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "rm-policy" -d 'Delete a policy'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "set-policy" -d 'Assign a policy to an identity (privilege User)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "add-identity" -d 'Add identities; without IDENTITY, generate an API key and print it once'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "get-identity" -d 'Show identities'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "stat-identity" -d 'Show identities'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "ls-identity" -d 'List identities'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "rm-identity" -d 'Delete an identity and its service accounts'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "import-kes" -d 'Move a KES deployment into an enclave: import the keys of a KES filesystem key store (their material, so KES\'s ciphertexts still open) and turn a KES config\'s policies and identities into minkms policies and identities (its admin becomes an Admin)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "log" -d 'Follow a node\'s log (the first server given), as it happens'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "logs" -d 'Follow a node\'s log (the first server given), as it happens'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "profile" -d 'Record a CPU profile of a node (the first server given) and write it to FILE: a zip archive holding cpu.pprof, for `go tool pprof` or any other pprof viewer'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "bench" -d 'Load-test a server: ops/s, latency percentiles, server CPU per operation'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "config-reference" -d 'Print the configuration file\'s reference (Markdown; docs/config.md)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "cli-reference" -d 'Print every command\'s help as one Markdown page (docs/cli.md)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "bench-baseline" -d 'Serve the benchmark baseline (a bare hyper + rustls `KEY:GENERATE`; BENCHMARKING.md)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "completion" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "man" -d 'Print the manual page (roff) of minkms, or write one page per command into a directory'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "version" -d 'Print the version of this binary and of the server'
complete -c minkms -n "__fish_minkms_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c minkms -n "__fish_minkms_using_subcommand server" -l addr -l address -d 'Address to listen on, HOST:PORT or :PORT [default: 0.0.0.0 (127.0.0.1 with --dev) on the port of --host, else on 7373]' -r
complete -c minkms -n "__fish_minkms_using_subcommand server" -l host -d 'The name (HOST:PORT) this node is known by in its cluster: what other nodes and clients dial [default: 127.0.0.1 and the listen port]' -r
complete -c minkms -n "__fish_minkms_using_subcommand server" -l config -d 'YAML configuration file (TLS, HSMs, limits, audit, log)' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand server" -l log-format -d 'Log format (default: the config\'s log.format, else text)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log shippers'"
complete -c minkms -n "__fish_minkms_using_subcommand server" -l dev -d 'Development mode: loopback, self-signed TLS, a generated HSM key and, unless DIR is given, a new data directory under the system temp directory (kept after the node stops, so that it can be restarted; delete it when done)'
complete -c minkms -n "__fish_minkms_using_subcommand server" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c minkms -n "__fish_minkms_using_subcommand identity" -l json -d 'Print JSON'
complete -c minkms -n "__fish_minkms_using_subcommand identity" -l pem -d 'Print the key\'s client certificate and private key (PEM) instead, for tools that present it themselves: `curl --cert FILE`, Prometheus\' `tls_config`'
complete -c minkms -n "__fish_minkms_using_subcommand identity" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand ls" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand ls" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand ls" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand ls" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand stat" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand stat" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand stat" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand stat" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand add" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand add" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand add" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand add" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand add" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand rm" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand rm" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand rm" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand rm" -l delete-cluster -d 'Let the removed node start over as a new single-node cluster instead of refusing to start ("server not part of cluster"). It keeps a copy of every key and the same root API key: its writes are fenced until `minkms edit HOST --accept-fork`'
complete -c minkms -n "__fish_minkms_using_subcommand rm" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand edit" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand edit" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand edit" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand edit" -l rm -d 'Id of a dead node to remove (see `minkms ls`)' -r
complete -c minkms -n "__fish_minkms_using_subcommand edit" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand edit" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand edit" -l accept-fork -d 'SERVER was removed with `--delete-cluster`: let it take writes as a cluster of its own. Point every client of its old cluster away from it first'
complete -c minkms -n "__fish_minkms_using_subcommand edit" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand backup" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand backup" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand backup" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand backup" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand backup" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand backup" -l force -d 'Replace FILE when it exists (without it, an existing file is never overwritten)'
complete -c minkms -n "__fish_minkms_using_subcommand backup" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand restore" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand restore" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand restore" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand restore" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand restore" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand restore" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand ls-hsm" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-hsm" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-hsm" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand ls-hsm" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand ls-hsm" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand ls-hsm" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -l overwrite -d 'Replace an existing sealed copy'
complete -c minkms -n "__fish_minkms_using_subcommand add-hsm" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand rm-hsm" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-hsm" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-hsm" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand rm-hsm" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand rm-hsm" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand rm-hsm" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand add-enclave" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-enclave" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-enclave" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand add-enclave" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand add-enclave" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand add-enclave" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand rm-enclave" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-enclave" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-enclave" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand rm-enclave" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand rm-enclave" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand rm-enclave" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand stat-enclave" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-enclave" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-enclave" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand stat-enclave" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand stat-enclave" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand stat-enclave" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand ls-enclave" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-enclave" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-enclave" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand ls-enclave" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand ls-enclave" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand ls-enclave" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -l type -d 'AES256 or ChaCha20 (default: AES256)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand add-key" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -l wrapped -d 'A file with the key material wrapped for the enclave\'s wrapping key (see \'minkms wrapping-key\'): the RSA-OAEP block of a fresh AES-256 key, then that key\'s RFC 5649 (AES-KWP) wrap of the key material; raw bytes, or base64' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -l hash -d 'The hash of the wrapped file\'s RSA-OAEP step (and of its MGF1): SHA256 or SHA1' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -l type -d 'AES256 or ChaCha20 (default: AES256)' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand import-key" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand wrapping-key" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -l version -d 'Key version (0 = latest)' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand stat-key" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand ls-key" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -l version -d 'Version to delete' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -l all -d 'Delete every version'
complete -c minkms -n "__fish_minkms_using_subcommand rm-key" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -l context -d 'Associated data bound to the ciphertext' -r
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -l length -d 'Data key length in bytes' -r
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand generate" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand generate" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand generate" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand generate" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand generate" -l context -d 'Associated data bound to the ciphertext' -r
complete -c minkms -n "__fish_minkms_using_subcommand generate" -l length -d 'Data key length in bytes' -r
complete -c minkms -n "__fish_minkms_using_subcommand generate" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand generate" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand generate" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -l context -d 'Associated data bound to the ciphertext' -r
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -l base64 -d 'The plaintext argument is base64'
complete -c minkms -n "__fish_minkms_using_subcommand encrypt" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -l context -d 'Associated data given when encrypting' -r
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand decrypt" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand mac" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand mac" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand mac" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand mac" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand mac" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand mac" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand mac" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand add-policy" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand get-policy" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand stat-policy" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand ls-policy" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand rm-policy" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand set-policy" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -l admin -d 'Give Admin privilege within the enclave'
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -l service -d 'Create service accounts of the calling identity'
complete -c minkms -n "__fish_minkms_using_subcommand add-identity" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand get-identity" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand stat-identity" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand ls-identity" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand rm-identity" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -s e -l enclave -d 'Enclave name' -r
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -l keys -d 'The KES filesystem key store (one file per key) [default: the config\'s keystore.fs.path]' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -l config -d 'The KES config file whose `policy:` and `admin:` sections to carry over' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand import-kes" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand log" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand log" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand log" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand log" -l level -d 'Lowest level shown: debug, info, warn or error' -r
complete -c minkms -n "__fish_minkms_using_subcommand log" -l filter -d 'Only records whose message contains this text' -r
complete -c minkms -n "__fish_minkms_using_subcommand log" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand log" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand log" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand logs" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand logs" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand logs" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand logs" -l level -d 'Lowest level shown: debug, info, warn or error' -r
complete -c minkms -n "__fish_minkms_using_subcommand logs" -l filter -d 'Only records whose message contains this text' -r
complete -c minkms -n "__fish_minkms_using_subcommand logs" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand logs" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand logs" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand profile" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand profile" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand profile" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand profile" -l seconds -d 'How long to record, in seconds (Ctrl-C stops early and still writes the profile)' -r
complete -c minkms -n "__fish_minkms_using_subcommand profile" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand profile" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand profile" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand bench" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l op -d 'Operation' -r -f -a "generate\t'KEY:GENERATE of a 32-byte data key (what MinIO sends for every object)'
encrypt\t'KEY:ENCRYPT of 32 bytes'
decrypt\t'KEY:DECRYPT of a data key\'s ciphertext'
hmac\t'KEY:MAC of 32 bytes'
key-create\t'KEY:CREATE of a new key: a write, fsynced (and replicated in a cluster)'"
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l duration -d 'Seconds of measurement' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l warmup -d 'Seconds of warm-up before measuring' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l connections -d 'Connections (one client each)' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l concurrency -d 'Requests in flight per connection (HTTP/2 streams; for HTTP/1.1 more in-flight requests open more connections)' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l threads -d 'Threads of the load generator (each with its own connections); by default one per core this process may run on' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l batch -d 'Operations per request (frames of one batch)' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l http -d 'HTTP version: 1 or 2' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l server-pid -d 'The server\'s pid on this machine, to report its CPU time per operation (repeat it for several nodes: their CPU time is added up; a soak samples each)' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l sample -d 'Seconds between two samples of a soak' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l enclave -d 'Enclave and key to use (created if missing, with the root API key)' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l openbao-token -d 'Load an OpenBao (or Vault) server\'s transit engine instead, with this token: `generate` is `POST /v1/transit/datakey/plaintext/bench-key`, for comparison (BENCHMARKING.md). The transit engine and the key must exist' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l soak -d 'Instead of one operation, a mixed load for --duration seconds (generate, decrypt, encrypt, MAC, keys created and deleted, reconnecting clients, a quiet 10 s each minute) that samples every node\'s memory, open files and tasks and reports their trend after the warm-up'
complete -c minkms -n "__fish_minkms_using_subcommand bench" -l no-scrape -d 'A soak reads the nodes only through /proc (--server-pid), never their metrics: a node nobody scrapes must stay bounded too'
complete -c minkms -n "__fish_minkms_using_subcommand bench" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c minkms -n "__fish_minkms_using_subcommand config-reference" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand cli-reference" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand bench-baseline" -l addr -d 'Address to listen on' -r
complete -c minkms -n "__fish_minkms_using_subcommand bench-baseline" -l bare -d 'The barest hyper + rustls server instead: a current-thread runtime, no client certificate asked for, hyper\'s default settings'
complete -c minkms -n "__fish_minkms_using_subcommand bench-baseline" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand completion" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand man" -l dir -d 'The same, as an option (older scripts)' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand man" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand version" -s s -l server -d 'Server(s), comma-separated; https:// is optional. There is no default: a command never reaches a node nobody named' -r
complete -c minkms -n "__fish_minkms_using_subcommand version" -s a -l api-key -d 'API key (k1:...)' -r
complete -c minkms -n "__fish_minkms_using_subcommand version" -l ca -d 'Trust servers whose certificates this CA issued: a PEM file, or a directory of them (a private CA). Without it, the system\'s roots' -r -F
complete -c minkms -n "__fish_minkms_using_subcommand version" -s k -l insecure -d 'Accept any server certificate (self-signed development servers)'
complete -c minkms -n "__fish_minkms_using_subcommand version" -l json -d 'Print JSON instead of human-readable output'
complete -c minkms -n "__fish_minkms_using_subcommand version" -s h -l help -d 'Print help'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "server" -d 'Start a node with its state in DIR (kms.db). The first start creates a single-node cluster'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "identity" -d 'Print the identity of an API key, or the root API key and identity an HSM key yields; without an argument, generate a new API key'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "ls" -d 'List the nodes of the cluster'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "stat" -d 'Show the status of every node of the cluster (a sealed node as sealed); exits 1 unless every node is up'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "add" -d 'Add a fresh node to the cluster: `add HOST:PORT`, or `add SERVER HOST:PORT`'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "rm" -d 'Remove a healthy node from the cluster: `rm HOST:PORT|NODE-ID`, or `rm SERVER ...`'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "edit" -d 'Force-remove dead nodes from SERVER\'s cluster definition, without write quorum (only for nodes that are permanently lost and wiped; one at a time), or accept that SERVER, removed with `--delete-cluster`, takes writes as a cluster of its own'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "backup" -d 'Write a backup of the whole state to FILE: `backup FILE`, or `backup SERVER FILE`. The file is useless without one of the HSMs that sealed the cluster\'s root key'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "restore" -d 'Restore a backup onto SERVER, a fresh single node started with one of the backup\'s HSM keys; then add nodes back'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "ls-hsm" -d 'List the HSMs: which hold a sealed root key, which are configured'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "add-hsm" -d 'Seal the root key with a configured HSM too (e.g. to migrate to it)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "rm-hsm" -d 'Remove an HSM\'s sealed copy of the root key (never the last, never the communication HSM\'s)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "add-enclave" -d 'Create an enclave'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "rm-enclave" -d 'Delete an enclave with every key, identity and policy in it'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "stat-enclave" -d 'Show an enclave'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "ls-enclave" -d 'List enclaves'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "add-key" -d 'Create a key; on an existing key, add a new version'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "import-key" -d 'Import 32 bytes of key material as a new key: in base64, or wrapped for the enclave\'s wrapping key (--wrapped FILE) so that it is never plaintext outside where it comes from'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "wrapping-key" -d 'Print the enclave\'s import wrapping key (RSA-4096, PEM), made on first use: wrap key material for it to import it with \'minkms import-key --wrapped\''
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "stat-key" -d 'Show a key (its latest version, or --version N)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "ls-key" -d 'List keys'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "rm-key" -d 'Delete a key version (the latest by default), or the whole key with --all'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "keygen" -d 'Generate a data key: prints its plaintext and ciphertext (base64)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "encrypt" -d 'Encrypt a plaintext: prints the ciphertext (base64)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "decrypt" -d 'Decrypt a ciphertext (base64): prints the plaintext (base64)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "mac" -d 'Compute an HMAC-SHA256 of a message with a key: prints it (base64)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "add-policy" -d 'Create or replace a policy from a JSON file ({"allow": {...}, "deny": {...}})'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "get-policy" -d 'Print policies as JSON documents'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "stat-policy" -d 'Show policies'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "ls-policy" -d 'List policies'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "rm-policy" -d 'Delete a policy'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "set-policy" -d 'Assign a policy to an identity (privilege User)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "add-identity" -d 'Add identities; without IDENTITY, generate an API key and print it once'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "get-identity" -d 'Show identities'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "ls-identity" -d 'List identities'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "rm-identity" -d 'Delete an identity and its service accounts'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "import-kes" -d 'Move a KES deployment into an enclave: import the keys of a KES filesystem key store (their material, so KES\'s ciphertexts still open) and turn a KES config\'s policies and identities into minkms policies and identities (its admin becomes an Admin)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "log" -d 'Follow a node\'s log (the first server given), as it happens'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "profile" -d 'Record a CPU profile of a node (the first server given) and write it to FILE: a zip archive holding cpu.pprof, for `go tool pprof` or any other pprof viewer'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "bench" -d 'Load-test a server: ops/s, latency percentiles, server CPU per operation'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "config-reference" -d 'Print the configuration file\'s reference (Markdown; docs/config.md)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "cli-reference" -d 'Print every command\'s help as one Markdown page (docs/cli.md)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "bench-baseline" -d 'Serve the benchmark baseline (a bare hyper + rustls `KEY:GENERATE`; BENCHMARKING.md)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "completion" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "man" -d 'Print the manual page (roff) of minkms, or write one page per command into a directory'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "version" -d 'Print the version of this binary and of the server'
complete -c minkms -n "__fish_minkms_using_subcommand help; and not __fish_seen_subcommand_from server identity ls stat add rm edit backup restore ls-hsm add-hsm rm-hsm add-enclave rm-enclave stat-enclave ls-enclave add-key import-key wrapping-key stat-key ls-key rm-key keygen encrypt decrypt mac add-policy get-policy stat-policy ls-policy rm-policy set-policy add-identity get-identity ls-identity rm-identity import-kes log profile bench config-reference cli-reference bench-baseline completion man version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
