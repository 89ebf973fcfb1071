"use client";

// The catalog as the console reads it: `/v1/models` for a project key, or the
// admin listing (retired models included) when only the admin token is there.
import { useQuery } from "@tanstack/react-query";
import type { Credentials } from "./auth";
import { edgeJson } from "./edge";
import type { Model, Pricing } from "./types";

type AdminModel = {
  entry: Omit<Model, "pricing"> & { prices: (Pricing & { effective_from: string })[] };
  retired: boolean;
};

export const BADGES: { label: string; capabilities: string[] }[] = [
  { label: "vision", capabilities: ["vision"] },
  { label: "PDF", capabilities: ["pdf"] },
  { label: "audio", capabilities: ["audio_input", "audio_output"] },
  { label: "tools", capabilities: ["tools"] },
  { label: "reasoning", capabilities: ["reasoning"] },
];

export function useModels(credentials: Credentials) {
  const token = credentials.projectKey ?? credentials.adminToken ?? "";
  return useQuery({
    queryKey: ["models", token],
    queryFn: async (): Promise<Model[]> => {
      if (credentials.projectKey) {
        return (await edgeJson<{ data: Model[] }>("/v1/models", token)).data;
      }
      const listing = await edgeJson<{ data: AdminModel[] }>("/admin/models", token);
      return listing.data.map(fromAdmin);
    },
  });
}

function fromAdmin({ entry, retired }: AdminModel): Model {
  const today = new Date().toISOString().slice(0, 10);
  const current = entry.prices
    .filter((price) => price.effective_from <= today)
    .sort((a, b) => a.effective_from.localeCompare(b.effective_from))
    .at(-1);
  return { ...entry, alias_for: null, pricing: current ?? null, retired };
}
