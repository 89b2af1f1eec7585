// The tracking page: reads GET /track/{token}, then follows GET /track/{token}/events. No build step.
(function () {
  'use strict';
  const config = JSON.parse(document.getElementById('tracking-config').textContent);
  const base = location.pathname.replace(/\/page\/?$/, '');
  const STATUS_TEXT = {
    PENDING: 'Looking for a driver',
    OFFERED: 'Looking for a driver',
    ASSIGNED: 'A driver is on the way to the pickup',
    PICKED_UP: 'Your order is on its way',
    DELIVERED: 'Delivered',
    FAILED: 'The delivery could not be completed',
    CANCELLED: 'Cancelled',
    EXPIRED: 'No driver could be found',
  };
  const COLORS = { driver: '#0b5cad', pickup: '#8a4b00', dropoff: '#1b6e20' };
  const el = (id) => document.getElementById(id);
  const mapElement = el('map');

  const map = L.map(mapElement, { zoomControl: true, attributionControl: true });
  if (config.tileUrl) {
    // Tiles that cannot be reached leave a blank map; the points below are drawn without them.
    L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution }).addTo(map);
  }
  const point = (kind, radius) =>
    L.circleMarker([0, 0], { radius, color: '#fff', weight: 2, fillColor: COLORS[kind], fillOpacity: 1, className: `marker-${kind}` });
  const markers = { pickup: point('pickup', 8), dropoff: point('dropoff', 8), driver: point('driver', 10) };
  let fitted = false;

  function place(kind, position) {
    const marker = markers[kind];
    if (!position) {
      marker.remove();
      if (kind === 'driver') {
        delete mapElement.dataset.driverLat;
        delete mapElement.dataset.driverLon;
      }
      return;
    }
    marker.setLatLng([position.lat, position.lon]);
    if (!map.hasLayer(marker)) marker.addTo(map);
    if (kind === 'driver') {
      mapElement.dataset.driverLat = String(position.lat);
      mapElement.dataset.driverLon = String(position.lon);
      markers.driver.bringToFront();
    }
  }

  function fit() {
    const shown = Object.values(markers).filter((marker) => map.hasLayer(marker));
    if (shown.length === 0) return;
    map.fitBounds(L.latLngBounds(shown.map((marker) => marker.getLatLng())).pad(0.3), { maxZoom: 16 });
    fitted = true;
  }

  function showEta(seconds) {
    el('eta').textContent = seconds == null ? '—' : seconds < 60 ? 'less than a minute' : `about ${Math.round(seconds / 60)} min`;
  }

  function showStatus(status) {
    el('status').textContent = STATUS_TEXT[status] || status;
    document.body.dataset.status = status;
  }

  function show(view) {
    showStatus(view.status);
    showEta(view.etaSeconds);
    el('driver').textContent = view.driver ? `${view.driver.name}${view.driver.vehicleType ? ` (${view.driver.vehicleType})` : ''}` : '—';
    place('pickup', view.pickup);
    place('dropoff', view.dropoff);
    place('driver', view.position);
    if (!fitted) fit();
  }

  /** Nothing more to follow: the delivery ended (its stream said so) or the link expired. */
  let finished = false;
  /** The id of the last event seen, for a reconnection made by hand (EventSource sends it itself on its own ones). */
  let lastId = '';
  let retryMs = 2000;
  const later = (run) => {
    setTimeout(run, retryMs);
    retryMs = Math.min(retryMs * 2, 60000);
  };

  async function refresh() {
    const response = await fetch(base, { headers: { accept: 'application/json' }, cache: 'no-store' });
    if (response.status === 404) {
      finished = true;
      showStatus('This tracking link has expired');
      return false;
    }
    if (response.ok) show(await response.json());
    return response.ok;
  }

  /** Reads the delivery, then follows its stream; tries again, less and less often, while the service cannot answer. */
  function start() {
    refresh().then(
      (ok) => (ok ? follow() : !finished && later(start)),
      () => later(start),
    );
  }

  function follow() {
    const source = new EventSource(`${base}/events${lastId ? `?lastEventId=${encodeURIComponent(lastId)}` : ''}`);
    const seen = (event) => event.lastEventId && (lastId = event.lastEventId);
    source.addEventListener('open', () => {
      el('connection').textContent = '';
      retryMs = 2000;
    });
    source.addEventListener('error', () => {
      if (finished) return;
      el('connection').textContent = 'Reconnecting…';
      // Closed for good by an error answer (a 429 or a 503, say): start again by hand, from the last event seen.
      if (source.readyState === EventSource.CLOSED) later(start);
    });
    source.addEventListener('status', (event) => {
      seen(event);
      showStatus(JSON.parse(event.data).status);
      // Driver and ETA change with the status: read them again.
      refresh().catch(() => undefined);
    });
    source.addEventListener('position', (event) => {
      seen(event);
      const position = JSON.parse(event.data);
      place('driver', position);
      showEta(position.etaSeconds);
      if (!map.getBounds().contains([position.lat, position.lon])) fit();
    });
    source.addEventListener('end', () => {
      finished = true;
      source.close();
      place('driver', null);
      showEta(null);
    });
  }

  map.setView([0, 0], 2);
  start();
})();
