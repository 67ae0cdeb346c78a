/** Pages that exist only when the gateway has their routes (checked against the committed
 * OpenAPI document when it is generated: see scripts/gen-api.sh and src/api/features.json). */
import features from "@/api/features.json";

export interface Features {
  audit: boolean;
  backups: boolean;
  stats: boolean;
  notifications: boolean;
  appOptions: boolean;
  policy: boolean;
}

export const FEATURES: Features = features;
