/**
 * Which methods the service serves on a path, so that a request with another
 * method is answered 405 with `Allow` rather than 404. Fastify's router only
 * answers "no route"; the table is filled from its `onRoute` hook.
 */
export class RouteTable {
  private readonly routes: Array<{ method: string; pattern: RegExp }> = [];

  /** Adds a route by Fastify's URL template (`/drivers/:id`, `/docs/*`); a catch-all (`*`, CORS preflight) says nothing about a path. */
  add(methods: string | string[], url: string): void {
    if (url === '*' || url === '/*') return;
    const source = url
      .split('/')
      .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    for (const method of Array.isArray(methods) ? methods : [methods]) this.routes.push({ method, pattern: new RegExp(`^${source}$`) });
  }

  /** The methods served on `path` (no query string), sorted; empty when no route has it. */
  allowed(path: string): string[] {
    return [...new Set(this.routes.filter((route) => route.pattern.test(path)).map((route) => route.method))].sort();
  }
}
