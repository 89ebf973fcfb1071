"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { edgeJson, jsonBody } from "@/lib/edge";
import { usd } from "@/lib/format";
import type { BudgetStatus, Project } from "@/lib/types";

export function Projects({
  adminToken,
  selected,
  onSelect,
}: {
  adminToken: string;
  selected: string | null;
  onSelect: (projectId: string) => void;
}) {
  const queryClient = useQueryClient();
  const projects = useQuery({
    queryKey: ["projects", adminToken],
    queryFn: () => edgeJson<{ data: Project[] }>("/admin/projects", adminToken),
  });
  const [name, setName] = useState("");
  const [cap, setCap] = useState("");
  const create = useMutation({
    mutationFn: () =>
      edgeJson<Project>("/admin/projects", adminToken, {
        method: "POST",
        ...jsonBody({ name: name.trim(), daily_budget_usd: cap.trim() || null }),
      }),
    onSuccess: (project) => {
      setName("");
      setCap("");
      onSelect(project.id);
      return queryClient.invalidateQueries({ queryKey: ["projects", adminToken] });
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }

  return (
    <section className="card">
      <h2>Projects</h2>
      <ErrorNote error={projects.error} />
      <table className="table" data-testid="projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Time zone</th>
            <th className="number">Spent today</th>
            <th>Daily cap (USD)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(projects.data?.data ?? []).map((project) => (
            <ProjectRow
              key={project.id}
              adminToken={adminToken}
              project={project}
              selected={project.id === selected}
              onSelect={() => onSelect(project.id)}
            />
          ))}
        </tbody>
      </table>
      <form className="row" onSubmit={submit}>
        <input name="new-project-name" placeholder="New project name" value={name} onChange={(event) => setName(event.target.value)} required />
        <input name="new-project-cap" placeholder="Daily cap in USD (optional)" value={cap} onChange={(event) => setCap(event.target.value)} inputMode="decimal" />
        <button type="submit" disabled={create.isPending}>
          Create project
        </button>
      </form>
      <ErrorNote error={create.error} />
    </section>
  );
}

function ProjectRow({
  adminToken,
  project,
  selected,
  onSelect,
}: {
  adminToken: string;
  project: Project;
  selected: boolean;
  onSelect: () => void;
}) {
  const queryClient = useQueryClient();
  const [cap, setCap] = useState<string | null>(null);
  const budget = useQuery({
    queryKey: ["budget", `/admin/projects/${project.id}/budget`, adminToken],
    queryFn: () => edgeJson<BudgetStatus>(`/admin/projects/${encodeURIComponent(project.id)}/budget`, adminToken),
    refetchInterval: 5_000,
  });
  const save = useMutation({
    // An empty field removes the cap.
    mutationFn: (value: string) =>
      edgeJson<Project>(`/admin/projects/${encodeURIComponent(project.id)}`, adminToken, {
        method: "PATCH",
        ...jsonBody({ daily_budget_usd: value.trim() || null }),
      }),
    onSuccess: () => {
      setCap(null);
      return Promise.all([
        queryClient.invalidateQueries({ queryKey: ["projects", adminToken] }),
        queryClient.invalidateQueries({ queryKey: ["budget"] }),
      ]);
    },
  });
  const shown = cap ?? project.daily_budget_usd ?? "";

  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate(shown);
  }

  return (
    <tr data-project={project.id} className={selected ? "selected" : undefined}>
      <td>
        <div>{project.name}</div>
        <div className="muted small mono">{project.id}</div>
      </td>
      <td>{project.timezone}</td>
      <td className="number" data-testid="project-spent">
        {budget.data ? usd(budget.data.project.spent_usd) : "–"}
      </td>
      <td>
        <form className="row" onSubmit={submit}>
          <input name="daily-cap" aria-label={`Daily cap of ${project.name}`} value={shown} placeholder="no cap" onChange={(event) => setCap(event.target.value)} inputMode="decimal" size={10} />
          <button type="submit" disabled={cap === null || save.isPending}>
            Save cap
          </button>
        </form>
        <ErrorNote error={save.error} />
        <span className="muted small" data-testid="cap-in-force">
          in force: {project.daily_budget_usd === null ? "no cap" : usd(project.daily_budget_usd)}
        </span>
      </td>
      <td>
        <button type="button" className="secondary" onClick={onSelect} disabled={selected}>
          {selected ? "Keys shown below" : "Show keys"}
        </button>
      </td>
    </tr>
  );
}
