"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { edgeJson, jsonBody } from "@/lib/edge";
import type { Alias } from "@/lib/types";

type AdminModel = { entry: { id: string }; retired: boolean };

export function Aliases({ adminToken }: { adminToken: string }) {
  const queryClient = useQueryClient();
  const aliases = useQuery({ queryKey: ["aliases", adminToken], queryFn: () => edgeJson<{ data: Alias[] }>("/admin/aliases", adminToken) });
  const models = useQuery({ queryKey: ["admin-models", adminToken], queryFn: () => edgeJson<{ data: AdminModel[] }>("/admin/models", adminToken) });
  const [alias, setAlias] = useState("");
  const [model, setModel] = useState("");
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ["aliases", adminToken] }),
      queryClient.invalidateQueries({ queryKey: ["models"] }),
    ]);

  const set = useMutation({
    mutationFn: () => edgeJson<Alias>(`/admin/aliases/${encodeURIComponent(alias.trim())}`, adminToken, { method: "PUT", ...jsonBody({ model }) }),
    onSuccess: () => {
      setAlias("");
      return refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (name: string) => edgeJson<unknown>(`/admin/aliases/${encodeURIComponent(name)}`, adminToken, { method: "DELETE" }),
    onSuccess: refresh,
  });
  const live = (models.data?.data ?? []).filter((item) => !item.retired).map((item) => item.entry.id).sort();

  function submit(event: FormEvent) {
    event.preventDefault();
    set.mutate();
  }

  return (
    <section className="card">
      <h2>Model aliases</h2>
      <ErrorNote error={aliases.error} />
      <table className="table" data-testid="aliases">
        <thead>
          <tr>
            <th>Alias</th>
            <th>Model</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(aliases.data?.data ?? []).map((item) => (
            <tr key={item.alias} data-alias={item.alias}>
              <td className="mono">{item.alias}</td>
              <td className="mono">{item.model}</td>
              <td>
                <button type="button" className="secondary" onClick={() => remove.mutate(item.alias)} disabled={remove.isPending}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorNote error={remove.error} />
      <form className="row" onSubmit={submit}>
        <input name="alias" placeholder="Alias, for example fast" value={alias} onChange={(event) => setAlias(event.target.value)} required />
        <select name="alias-model" value={model} onChange={(event) => setModel(event.target.value)} required>
          <option value="">model…</option>
          {live.map((id) => (
            <option key={id}>{id}</option>
          ))}
        </select>
        <button type="submit" disabled={set.isPending}>
          Set alias
        </button>
      </form>
      <ErrorNote error={set.error} />
    </section>
  );
}
