/** The catalog as people read it: each app's logo (Simple Icons, CC0: only the icons the catalog
 *  uses are imported, so the bundle carries those and no more), category names, setting labels. */
import {
  siAdminer,
  siCoder,
  siDirectus,
  siGhost,
  siGitea,
  siGrafana,
  siJellyfin,
  siMariadb,
  siMattermost,
  siMetabase,
  siMinio,
  siN8n,
  siNextcloud,
  siNginx,
  siPlausibleanalytics,
  siPostgresql,
  siRedis,
  siUmami,
  siUptimekuma,
  siVaultwarden,
  siWordpress,
  type SimpleIcon,
} from "simple-icons";

/** A template's logo by its name; a template without one shows its initials. */
export const TEMPLATE_ICONS: Record<string, SimpleIcon> = {
  adminer: siAdminer,
  "code-server": siCoder, // code-server is Coder's
  directus: siDirectus,
  ghost: siGhost,
  gitea: siGitea,
  grafana: siGrafana,
  jellyfin: siJellyfin,
  mariadb: siMariadb,
  mattermost: siMattermost,
  metabase: siMetabase,
  minio: siMinio,
  n8n: siN8n,
  nextcloud: siNextcloud,
  nginx: siNginx,
  plausible: siPlausibleanalytics,
  postgresql: siPostgresql,
  redis: siRedis,
  umami: siUmami,
  "uptime-kuma": siUptimekuma,
  vaultwarden: siVaultwarden,
  wordpress: siWordpress,
};

const CATEGORIES: Record<string, string> = {
  cms: "CMS",
  devtools: "Developer tools",
  database: "Databases",
  storage: "Storage",
  monitoring: "Monitoring",
  media: "Media",
  communication: "Communication",
  analytics: "Analytics",
  automation: "Automation",
  web: "Web servers",
  security: "Security",
};

/** "cms" → "CMS", "devtools" → "Developer tools"; an unknown one with a capital first letter. */
export function categoryName(category: string): string {
  return CATEGORIES[category] ?? category.charAt(0).toUpperCase() + category.slice(1).replace(/[-_]/g, " ");
}

const WORDS: Record<string, string> = {
  HTTP: "web",
  DB: "database",
  URL: "URL",
  SMTP: "SMTP",
  API: "API",
  TZ: "time zone",
  PG: "PostgreSQL",
  S3: "S3",
  ID: "ID",
  UID: "user ID",
  GID: "group ID",
};

/** A setting's variable as words: "HTTP_PORT" → "Web port", "DB_ROOT_PASSWORD" → "Database root password". */
export function settingLabel(key: string): string {
  const words = key
    .split(/_+/)
    .filter(Boolean)
    .map((w) => WORDS[w.toUpperCase()] ?? w.toLowerCase());
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
