// `portal pola-run --help`, and its line in `portal --help`.
export const POLA_RUN_USAGE = `Run a program in a --sandbox spawner with pola-run's command line (Plash)

USAGE portal pola-run --prog FILE [-f[awls][,objrw|,socket] PATH | -t[awls][,...] DEST SRC
                      | -a ARG | --cwd DIR | --no-cwd | --copy-cwd]... [-B] [--net] [--x11]
                      [--socket PATH] [--one-shot] [--timeout SECONDS]

  --prog FILE       the program, looked up in the sandbox (PATH when FILE has no '/')
  -f PATH           grant PATH read-only at PATH; links on the way are granted as links
  -t DEST SRC       grant SRC at DEST (DEST's directories may not be granted links)
     a              also append the pathname (DEST for -t) to the arguments
     w              read-write
     l              follow a link at the end: grant the link and what it leads to
     s              accepted; every writable grant already lets the program make links
     ,objrw         read-write access to the object (a device such as /dev/null), not its slot
     ,socket        connect to the unix sockets it names, without write access
  -a ARG            append ARG to the arguments
  --cwd DIR         resolve later pathnames against DIR; the last cwd option is the program's cwd
  --no-cwd          no cwd: later relative pathnames are an error; the program starts in /
  --copy-cwd        this process's cwd again (the default)
  -B                grant /usr, /bin, /lib and /lib64 (-fl each)
  --net             grant /etc/resolv.conf, /etc/hosts, /etc/services (-fl each)
  --x11             grant /tmp/.X11-unix (-fl,socket) and ~/.Xauthority (-fl)
  --socket PATH     spawner socket (default: $PORTAL_NAME, else ./portal.sock)
  --one-shot        fail at once if the spawner is not there ($PORTAL_ONE_SHOT)
  --timeout SECONDS wait at most this long for the socket

Every option with a parameter also takes it as --arg=param (-f=PATH, -fw=PATH).
--powerbox and --pet-name are refused: there is no powerbox here.
Exit: the program's code; death by its signal; 127 not found; 126 cannot execute; 125 the portal failed.
`;

export const polaRunDefinition = {
  meta: { name: "pola-run", description: "Run a program in a --sandbox spawner with pola-run's command line (Plash)" },
};
