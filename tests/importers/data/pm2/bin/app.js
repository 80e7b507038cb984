// A small server-like node app: runs until stopped (SIGINT, as PM2 stops it).
const timer = setInterval(() => {}, 60_000);
process.on("SIGINT", () => {
  clearInterval(timer);
  process.exit(0);
});
