// nl2py's service worker: keeps the page's own files so that the page opens without a network
// after the first visit. The model is not among them: the page keeps it in its own Cache Storage
// bucket and checks it against model/manifest.json (web/src/bundle_cache.rs).
//
// web/post_build.py fills in FILES (every file trunk wrote, relative to this worker, but those of
// the workers), ON_DEMAND (the WebGPU worker's, which only a page on a hardware adapter fetches,
// and the Python worker's, which only a first Run fetches: kept when first fetched, not on
// install) and VERSION (a hash of all their contents): a
// new build changes this file, so the browser installs the new worker, which caches the new
// files and deletes the old cache.
const FILES = [/* FILES */];
const ON_DEMAND = [/* ON_DEMAND */];
const VERSION = "/* VERSION */";
const CACHE = `nl2py-page-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("nl2py-page-") && name !== CACHE)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

const PAGE = new URL("./index.html", self.registration.scope).href;
const KEPT = new Set([...FILES, ...ON_DEMAND].map((file) => new URL(file, self.registration.scope).href));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    // The page itself: the network's copy when there is one (so an update shows at once),
    // else the kept one, whatever the query or fragment.
    event.respondWith(fetch(request).catch(() => caches.open(CACHE).then((cache) => cache.match(PAGE))));
    return;
  }
  const url = new URL(request.url);
  url.search = "";
  if (!KEPT.has(url.href)) return; // the model, its manifest, other sites: the browser's usual way
  // A kept copy is never stale: trunk's file names carry a hash of their contents, and the
  // workers' files, which do not, belong to this worker's VERSION.
  event.respondWith(
    caches.open(CACHE).then((cache) => cache.match(url.href).then((kept) => kept || fetch(request).then((response) => {
      if (response.ok) cache.put(url.href, response.clone());
      return response;
    }))),
  );
});
